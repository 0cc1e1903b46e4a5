// SPDX-License-Identifier: MIT
// The echo benchmark's Go reference: a goroutine per connection, each a
// plain loop of Read and Write with its own 4 KiB buffer (not io.Copy,
// which may splice). Run with GOMAXPROCS=1 so it has one core, like the
// others. Standard library only.
//
//	echo-go PORT [--max-seconds N]
//
// Listens on 127.0.0.1:PORT (0: ephemeral), prints the port as the first
// line of stdout; --max-seconds N ends it after N seconds.
package main

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"syscall"
	"time"
)

func serve(c net.Conn) {
	defer c.Close()
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: echo-go PORT [--max-seconds N]")
	os.Exit(2)
}

func main() {
	if len(os.Args) != 2 && len(os.Args) != 4 {
		usage()
	}
	port, err := strconv.Atoi(os.Args[1])
	if err != nil || port < 0 || port > 65535 {
		usage()
	}
	if len(os.Args) == 4 {
		secs, err := strconv.Atoi(os.Args[3])
		if os.Args[2] != "--max-seconds" || err != nil || secs <= 0 {
			usage()
		}
		time.AfterFunc(time.Duration(secs)*time.Second, func() { os.Exit(0) })
	}
	var rl syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl) == nil {
		rl.Cur = rl.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
	}
	// The backlog is the kernel's net.core.somaxconn.
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		fmt.Fprintln(os.Stderr, "echo-go:", err)
		os.Exit(1)
	}
	fmt.Println(l.Addr().(*net.TCPAddr).Port)
	for {
		c, err := l.Accept()
		if err != nil {
			fmt.Fprintln(os.Stderr, "echo-go: accept:", err)
			time.Sleep(100 * time.Millisecond)
			continue
		}
		go serve(c)
	}
}
