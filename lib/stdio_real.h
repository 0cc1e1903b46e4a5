/* SPDX-License-Identifier: MIT */
/* Declarations of the stdio functions libgreen interposes that glibc's
 * public headers do not declare here (fortified __*_chk forms, the C99
 * scanf names the headers reach only through asm redirections, the wide
 * calls, libio's exported internals), so that lib/real.def can name them
 * (real.h includes this). Their types are glibc 2.36's. */
#ifndef GREEN_STDIO_REAL_H
#define GREEN_STDIO_REAL_H

#include <err.h>
#include <error.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <sys/types.h>
#include <wchar.h>

/* libio's entry points that inline getc/putc and old binaries call. */
int __underflow(FILE *);
wint_t __wuflow(FILE *);
wint_t __wunderflow(FILE *);
wint_t __woverflow(FILE *, wint_t);
int _IO_getc(FILE *);
int _IO_putc(int, FILE *);
void _IO_flockfile(FILE *);
void _IO_funlockfile(FILE *);
int _IO_ftrylockfile(FILE *);

/* gets left the headers with C11; it is still exported. */
char *gets(char *);

/* _FORTIFY_SOURCE (debug/). */
char *__fgets_chk(char *, size_t, int, FILE *);
char *__fgets_unlocked_chk(char *, size_t, int, FILE *);
size_t __fread_chk(void *, size_t, size_t, size_t, FILE *);
size_t __fread_unlocked_chk(void *, size_t, size_t, size_t, FILE *);
char *__gets_chk(char *, size_t);
int __printf_chk(int, const char *, ...);
int __fprintf_chk(FILE *, int, const char *, ...);
int __vprintf_chk(int, const char *, va_list);
int __vfprintf_chk(FILE *, int, const char *, va_list);
int __dprintf_chk(int, int, const char *, ...);
int __vdprintf_chk(int, int, const char *, va_list);
int __vsnprintf_chk(char *, size_t, int, size_t, const char *, va_list);
wchar_t *__fgetws_chk(wchar_t *, size_t, int, FILE *);
wchar_t *__fgetws_unlocked_chk(wchar_t *, size_t, int, FILE *);
int __fwprintf_chk(FILE *, int, const wchar_t *, ...);
int __wprintf_chk(int, const wchar_t *, ...);
int __vfwprintf_chk(FILE *, int, const wchar_t *, va_list);
int __vwprintf_chk(int, const wchar_t *, va_list);

/* The C99 scanf family (the headers' fscanf is this name). */
int __isoc99_fscanf(FILE *, const char *, ...);
int __isoc99_scanf(const char *, ...);
int __isoc99_vfscanf(FILE *, const char *, va_list);
int __isoc99_vscanf(const char *, va_list);
int __isoc99_fwscanf(FILE *, const wchar_t *, ...);
int __isoc99_wscanf(const wchar_t *, ...);
int __isoc99_vfwscanf(FILE *, const wchar_t *, va_list);
int __isoc99_vwscanf(const wchar_t *, va_list);

#endif
