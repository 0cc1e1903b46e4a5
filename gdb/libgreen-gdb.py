# SPDX-License-Identifier: MIT
# gdb support for libgreen: `info greenlets` lists every green thread of
# the inferior, `greenlet N` selects green thread N's stack, `greenlet N
# CMD` (`greenlet bt N` for `greenlet N bt`) runs a command on it and goes
# back. Works on a live process and on a core file alike.
#
# gdb loads this by itself from libgreen.so's .debug_gdb_scripts section
# or from the auto-load directory (see README, "Debugging with gdb"), or
# by hand: `source gdb/libgreen-gdb.py`.
#
# Where the green threads are. Each OS thread that used the runtime has a
# struct green__thread (lib/internal.h), found through the TLS pointer
# green__tls_thread, read in each gdb thread through libgreen's debug
# info. Its `live` list links every greenlet that started and is not dead
# (through struct greenlet's own `live` link); the root (the OS thread's
# own stack) is on it, the hub is added if it is not.
#
# How a parked greenlet's stack is shown. A greenlet that is not running
# was switched out by lib/arch/x86_64_sysv_elf.S, which pushed rbp, rbx,
# r15, r14, r13, r12 and the FP control words below the return address
# and saved the stack pointer in greenlet->sp. Registers cannot be written
# in a core file, so nothing writes them: while a greenlet is selected, a
# Python unwinder claims frame 0 of its OS thread and says that frame's
# caller had the registers of the saved frame (rip the return address,
# rsp just above it, the six callee-saved registers from the stack);
# gdb's own DWARF unwinder goes on from there. Frame 0 itself stays the OS
# thread's (its pc cannot be unwound into anything else), so a frame
# filter shows it as a marker line and `greenlet N` selects frame 1.
# x86-64 with the assembly context switch only.
import math
import time

import gdb

try:
    from gdb.unwinder import Unwinder, register_unwinder
except ImportError:  # gdb older than 7.10
    Unwinder = None

STATES = ["new", "running", "suspended", "parked", "ready", "dead", "away"]
FLAG_ROOT, FLAG_HUB, FLAG_TASK, FLAG_CANCELLED = 1, 2, 4, 8

# The saved frame at greenlet->sp: MXCSR and x87 CW in one word, then
# these registers, then the return address.
SAVED_REGS = ["r12", "r13", "r14", "r15", "rbx", "rbp"]
FRAME_SIZE = 0x40  # the return address included


def _u64(addr):
    inf = gdb.selected_inferior()
    return int.from_bytes(bytes(inf.read_memory(addr, 8)), "little")


def _str(v):
    """A char * as a Python string, or None for NULL/unreadable."""
    try:
        if int(v) == 0:
            return None
        return v.string(errors="replace")[:256]
    except (gdb.error, gdb.MemoryError):
        return None


def _symbol_at(addr):
    """'name' of the function holding addr, or hex."""
    if addr == 0:
        return None
    block = None
    try:
        block = gdb.block_for_pc(addr)
    except RuntimeError:
        pass
    while block is not None and block.function is None:
        block = block.superblock
    if block is not None:
        return block.function.print_name
    try:
        s = gdb.execute("info symbol 0x%x" % addr, to_string=True)
        if not s.startswith("No symbol"):
            return s.split(" in section")[0].strip().replace(" + ", "+")
    except gdb.error:
        pass
    return "0x%x" % addr


class Greenlet(object):
    """A greenlet as read from the inferior."""

    def __init__(self, val, thread):
        self.val = val          # gdb.Value, struct greenlet
        self.thread = thread    # gdb.InferiorThread of its OS thread
        self.addr = int(val.address)
        self.id = int(val["id"])
        self.state = int(val["state"])
        self.flags = int(val["flags"])
        self.name = _str(val["name"])

    def state_name(self):
        s = STATES[self.state] if self.state < len(STATES) else str(self.state)
        if self.flags & FLAG_CANCELLED:
            s += ",killed"
        return s

    def kind(self):
        if self.flags & FLAG_ROOT:
            return "root"
        if self.flags & FLAG_HUB:
            return "hub"
        return "task" if self.flags & FLAG_TASK else "greenlet"

    def label(self):
        return self.name if self.name is not None else "-"

    def field(self, name):
        """A field of struct greenlet, or None if this build has none."""
        try:
            return self.val[name]
        except gdb.error:
            return None

    def waits_on(self):
        """What a parked greenlet waits for, as the runtime recorded it
        (wait_what/obj/on; the wait descriptor's note where there is
        one: lib/internal.h, enum green__wait_kind)."""
        if self.state != 3:
            return ""
        what = _str(self.val["wait_what"]) or "a wait"
        parts = [what]
        obj = int(self.val["wait_obj"])
        kind = self.field("wait_kind")
        kind = int(kind) if kind is not None else 0
        arg = int(self.field("wait_arg") or 0)
        if kind == 1:  # GREEN__WAIT_FD
            ev = int(self.field("wait_events") or 0)
            dirs = [n for bit, n in ((1, "in"), (4, "out")) if ev & bit]
            if what.endswith(" fd"):
                parts = ["%s %d" % (what, arg)]
            else:
                parts.append("fd %d" % arg)
            if dirs:
                parts.append("(%s)" % "|".join(dirs))
            obj = 0
        elif kind == 2:  # GREEN__WAIT_POLL
            parts.append("(%d fds)" % arg)
        elif kind == 3:  # GREEN__WAIT_FUTEX
            parts.append("(futex 0x%x while it holds %d)" % (obj, arg))
            obj = 0
        elif kind == 4:  # GREEN__WAIT_CHILD
            parts.append("(any child)" if arg == -1 else
                         "(group %d)" % -arg if arg < -1 else
                         "(child %d)" % arg)
        if obj:
            # fd waits record the fd number itself (lib/iowait.c)
            parts.append(str(obj) if what.endswith(" fd") else _data_at(obj))
        on = self.val["wait_on"]
        if int(on):
            try:
                parts.append("on #%d" % int(on.dereference()["id"]))
            except gdb.error:
                pass
        since, until = self.field("wait_since"), self.field("wait_until")
        if since is not None and _live():
            # the hub's clock is ev_now(): realtime seconds
            now = time.time()
            if float(since) > 0:
                parts.append("for %.1fs" % max(0.0, now - float(since)))
            if until is not None and math.isfinite(float(until)):
                parts.append("timer in %.1fs" % (float(until) - now))
        return " ".join(parts)

    def creator(self):
        c = self.field("creator")
        return int(c) if c is not None and int(c) else None

    def start(self):
        """The function it was made to run: a green pthread's start
        routine, a task's body, a bare greenlet's run."""
        if self.flags & FLAG_TASK:
            try:
                task = self.val.address.cast(
                    gdb.lookup_type("struct green_task").pointer())
                local = task["local"]
                if int(local):
                    gt = local.cast(gdb.lookup_type("struct gthread").pointer())
                    return _symbol_at(int(gt["start"]))
                return _symbol_at(int(task["fn"]))
            except (gdb.error, RuntimeError):
                pass
        run = int(self.val["run"])
        return _symbol_at(run) if run else None

    def running(self):
        return self.state == 1

    def has_context(self):
        return self.state in (2, 3, 4) and int(self.val["sp"]) != 0

    def context(self):
        """The registers its switch saved: {name: int}."""
        sp = int(self.val["sp"])
        regs = {}
        for i, r in enumerate(SAVED_REGS):
            regs[r] = _u64(sp + 8 * (i + 1))
        ret = _u64(sp + 0x38)
        reaper = _address_of("green__ctx_reaper")
        if reaper is not None and ret == reaper:
            # redirected through the reaper (lib/greenlet.c): the real
            # return address is kept in resume_to
            ret = int(self.val["resume_to"])
        regs["rip"] = ret
        regs["rsp"] = sp + FRAME_SIZE
        tp = int(self.val["tp"])
        if tp:
            regs["fs_base"] = tp
        return regs


def _data_at(addr):
    """hex, and the variable it is in if it is one (a static mutex)."""
    try:
        s = gdb.execute("info symbol 0x%x" % addr, to_string=True)
        if not s.startswith("No symbol"):
            return "0x%x <%s>" % (addr, s.split(" in section")[0].strip()
                                  .replace(" + ", "+"))
    except gdb.error:
        pass
    return "0x%x" % addr


def _live():
    """Whether the inferior is a process (not a core file)."""
    try:
        conn = gdb.selected_inferior().connection
        return conn is not None and conn.type != "core"
    except AttributeError:  # gdb older than 12
        return False


def _address_of(name):
    try:
        return int(gdb.parse_and_eval("&" + name).cast(
            gdb.lookup_type("unsigned long")))
    except gdb.error:
        return None


def _os_threads():
    """[(gdb thread, struct green__thread * Value)] for every OS thread
    with runtime state. Leaves the selected thread as it found it."""
    inf = gdb.selected_inferior()
    old = gdb.selected_thread()
    out = []
    try:
        for th in sorted(inf.threads(), key=lambda t: t.num):
            try:
                th.switch()
                t = gdb.parse_and_eval("green__tls_thread")
            except gdb.error:
                continue
            if int(t) != 0:
                out.append((th, t))
    finally:
        if old is not None and old.is_valid():
            old.switch()
    return out


def greenlets():
    """Every greenlet of every OS thread, by id."""
    gtype = gdb.lookup_type("struct greenlet")
    live_off = None
    for f in gtype.fields():
        if f.name == "live":
            live_off = f.bitpos // 8
    found = {}
    for th, t in _os_threads():
        seen = set()
        head = t["live"].address
        link = t["live"]["next"]
        n = 0
        while int(link) != int(head) and int(link) != 0 and n < 1000000:
            g = gdb.Value(int(link) - live_off).cast(gtype.pointer())
            seen.add(int(g))
            found_g = Greenlet(g.dereference(), th)
            found[found_g.id] = found_g
            link = link["next"]
            n += 1
        for extra in (t["hub"], t["current"], t["root"].address):
            if int(extra) != 0 and int(extra) not in seen:
                e = Greenlet(extra.dereference(), th)
                found[e.id] = e
    return [found[k] for k in sorted(found)]


def find(gid):
    for g in greenlets():
        if g.id == gid:
            return g
    raise gdb.GdbError("no green thread %d (see `info greenlets`)" % gid)


# --- the view: which greenlet's stack frame 0's caller is ---------------

class _View(object):
    greenlet = None   # Greenlet shown, or None
    thread = None     # its OS thread's gdb number
    regs = None


class _FrameId(object):
    def __init__(self, sp, pc):
        ulong = gdb.lookup_type("unsigned long")
        self.sp = gdb.Value(sp).cast(ulong)
        self.pc = gdb.Value(pc).cast(ulong)


if Unwinder is not None:
    class GreenletUnwinder(Unwinder):
        """Frame 0 of the viewed OS thread unwinds into the greenlet's
        saved context."""

        def __init__(self):
            super(GreenletUnwinder, self).__init__("libgreen")

        def __call__(self, pending_frame):
            if _View.greenlet is None or pending_frame.level() != 0:
                return None
            th = gdb.selected_thread()
            if th is None or th.num != _View.thread:
                return None
            regs = _View.regs
            pc = pending_frame.read_register("rip")
            info = pending_frame.create_unwind_info(
                _FrameId(regs["rsp"] - FRAME_SIZE, int(pc)))
            ulong = gdb.lookup_type("unsigned long")
            for r in SAVED_REGS + ["rip", "rsp"]:
                info.add_saved_register(r, gdb.Value(regs[r]).cast(ulong))
            if "fs_base" in regs:
                try:
                    info.add_saved_register(
                        "fs_base", gdb.Value(regs["fs_base"]).cast(ulong))
                except (ValueError, gdb.error):
                    pass
            return info


class _MarkerDecorator(object):
    """Frame 0 of a viewed greenlet: not its code, the OS thread's."""

    def __init__(self, frame):
        self._frame = frame

    def elided(self):
        return None

    def function(self):
        g = _View.greenlet
        return "[green thread %d switched out here; OS thread %d runs %s]" % (
            g.id, _View.thread, self._frame.name() or "?")

    def address(self):
        return None

    def filename(self):
        return None

    def line(self):
        return None

    def frame_args(self):
        return None

    def frame_locals(self):
        return None

    def inferior_frame(self):
        return self._frame


class GreenletFrameFilter(object):
    def __init__(self):
        self.name = "libgreen"
        self.priority = 100
        self.enabled = True
        gdb.frame_filters[self.name] = self

    def filter(self, frames):
        for d in frames:
            f = d.inferior_frame()
            if (_View.greenlet is not None and f.level() == 0 and
                    gdb.selected_thread().num == _View.thread):
                yield _MarkerDecorator(f)
            else:
                yield d


def _set_view(g):
    _View.greenlet = g
    _View.thread = g.thread.num if g is not None else None
    _View.regs = g.context() if g is not None else None
    gdb.invalidate_cached_frames()


def _clear_view(*args):
    if _View.greenlet is not None:
        _set_view(None)


def _innermost_outside(g, objname="libgreen"):
    """(name, frame level) of the first frame of g not in libgreen."""
    frame = gdb.newest_frame()
    if g is not None and not g.running():
        frame = frame.older()  # frame 0 is the OS thread's
    n = 0
    first = None
    while frame is not None and n < 64:
        pc = frame.pc()
        name = frame.name() or _symbol_at(pc)
        if first is None:
            first = name
        so = gdb.solib_name(pc) or ""
        fn = frame.function()
        src = fn.symtab.filename if fn is not None and fn.symtab else ""
        inside = (objname in so.rsplit("/", 1)[-1]
                  or src.startswith(("../lib/", "../preload/", "lib/",
                                     "preload/")) or "/lib/" in src and
                  "green" in src) or (name or "").startswith(
                      ("green_", "green__", "greenlet_"))
        sal = frame.find_sal()
        hdr = sal.symtab is not None and \
            sal.symtab.filename.startswith("/usr/include/")
        if not inside and not hdr:
            return name  # (a fortify wrapper inlined from a header is not)
        frame = frame.older()
        n += 1
    return None


def _where(g):
    """The function g is in, outside libgreen (unwinding its stack)."""
    old_thread = gdb.selected_thread()
    try:
        g.thread.switch()
        if g.running():
            _set_view(None)
            return _innermost_outside(None)
        if not g.has_context():
            return None
        _set_view(g)
        return _innermost_outside(g)
    except (gdb.error, gdb.MemoryError, RuntimeError):
        return "?"
    finally:
        _set_view(None)
        old_thread.switch()


class InfoGreenlets(gdb.Command):
    """List every green thread: id, OS thread, state, name, what it
waits for, the function it is in (outside libgreen), what it runs.
The line of the greenlet each OS thread runs starts with '*'."""

    def __init__(self):
        super(InfoGreenlets, self).__init__("info greenlets", gdb.COMMAND_STACK)

    def invoke(self, arg, from_tty):
        saved = (_View.greenlet, _View.regs)
        gs = greenlets()
        if not gs:
            print("No green threads (no OS thread has libgreen's state).")
            return
        print("  %-5s %-6s %-8s %-10s %-12s %-34s %s" % (
            "Id", "Thread", "Kind", "State", "Name", "In (runs)", "Waits on"))
        for g in gs:
            where = _where(g) or "-"
            start = g.start()
            runs = where if not start or start == where else \
                "%s (%s)" % (where, start)
            waits = g.waits_on() or "-"
            if g.creator() is not None:
                waits += "  (made by #%d)" % g.creator()
            print("%s %-5d %-6d %-8s %-10s %-12s %-34s %s" % (
                "*" if g.running() else " ", g.id, g.thread.num, g.kind(),
                g.state_name(), g.label(), runs, waits))
        if saved[0] is not None:  # put back a view `greenlet N` had made
            _View.greenlet, _View.regs = saved
            _View.thread = saved[0].thread.num
            gdb.invalidate_cached_frames()


class GreenletCommand(gdb.Command):
    """Select or inspect green thread N's stack.
  greenlet N        select green thread N (then bt, frame, up, info locals...)
  greenlet N CMD    run gdb command CMD on green thread N's stack, then go back
  greenlet bt N     the same as `greenlet N bt`
  greenlet off      back to the OS threads' own stacks (also on continue)
  greenlet          say which green thread is selected
Frame 0 of a selected parked green thread is its OS thread's own frame,
shown as a marker line; the green thread's frames start at frame 1.
Registers are never written: this works on core files too."""

    def __init__(self):
        super(GreenletCommand, self).__init__("greenlet", gdb.COMMAND_STACK)

    def invoke(self, arg, from_tty):
        argv = arg.split()
        if not argv:
            if _View.greenlet is None:
                print("No green thread selected.")
            else:
                g = _View.greenlet
                print("Green thread %d (%s), on OS thread %d." % (
                    g.id, g.label(), _View.thread))
            return
        if argv[0] in ("off", "0", "none"):
            _clear_view()
            return
        if argv[0] == "bt":
            if len(argv) < 2:
                raise gdb.GdbError("usage: greenlet bt N [bt options]")
            argv = [argv[1], "bt"] + argv[2:]
        try:
            gid = int(argv[0])
        except ValueError:
            raise gdb.GdbError("greenlet: N is a green thread id "
                               "(see `info greenlets`)")
        g = find(gid)
        if len(argv) == 1:
            self.select(g)
        else:
            self.run(g, " ".join(argv[1:]))

    def _enter(self, g):
        g.thread.switch()
        if g.running():
            _set_view(None)
            return 0
        if not g.has_context():
            raise gdb.GdbError("green thread %d is %s: it has no stack" % (
                g.id, g.state_name()))
        _set_view(g)
        return 1

    def select(self, g):
        level = self._enter(g)
        print("[Switching to green thread %d (%s), %s, on OS thread %d]" % (
            g.id, g.label(), g.state_name(), g.thread.num))
        gdb.execute("frame %d" % level)

    def run(self, g, cmd):
        old_thread = gdb.selected_thread()
        old_view = _View.greenlet
        try:
            self._enter(g)
            gdb.execute(cmd)
        finally:
            _set_view(old_view)
            if old_thread is not None and old_thread.is_valid():
                old_thread.switch()


if Unwinder is not None:
    register_unwinder(None, GreenletUnwinder(), replace=True)
GreenletFrameFilter()
InfoGreenlets()
GreenletCommand()
gdb.events.cont.connect(_clear_view)
gdb.events.exited.connect(_clear_view)
