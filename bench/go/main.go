// SPDX-License-Identifier: MIT
// Go references for bench/yield.c, bench/spawn.c, bench/memory.c and
// the synchronisation benchmarks bench/sync_*.c, measured the same way,
// with GOMAXPROCS=1 (one OS thread runs goroutines, as one hub does).
// Standard library only; build with `go build -o gobench main.go` (no
// module, no network).
//
// Usage: gobench yield|spawn|memory|queue|event|sem|gather|handoff|crosshub. Prints
// `name value unit` lines:
//
//	yield.go        ns per runtime.Gosched(), two goroutines taking turns
//	spawn.go        ns per goroutine: 1,000,000 `go f()` that return at
//	                once, then WaitGroup.Wait
//	memory.go       KiB of VmRSS per goroutine, 1,000,000 blocked at once
//	memory.go_sys   KiB of runtime.MemStats.Sys per goroutine, ditto
//	queue.go_buffered   ns per item, producer to consumer goroutine over
//	                a channel with room for every item (sync_queue.c's
//	                unbounded queue)
//	queue.go_cap1   ns per item, ditto, a channel of capacity 1
//	queue.go_unbuffered  ns per item, ditto, an unbuffered channel
//	event.go_chan   ns per wake-up, two goroutines ping-ponging over two
//	                unbuffered channels
//	event.go_cond   ns per wake-up, ditto over a sync.Cond and a flag
//	sem.go_chan     ns per acquire + release of a channel of capacity 1
//	                used as a semaphore, 10,000 goroutines taking it 100
//	                times each, all waiting from the start
//	sem.go_mutex    ns per Lock + Unlock of a sync.Mutex, ditto
//	gather.go       ns per goroutine: 100,000 `go f(i)` storing their
//	                result in a slice, then WaitGroup.Wait
//	handoff.go_mutex  ns per wake-up, two goroutines ping-ponging over
//	                two sync.Mutex, each unlocked by the other side
//	                (bench/blocking.c's futex and condvar wake-to-run)
//	handoff.go_chan ns per wake-up, ditto over two unbuffered channels
//	pingpong-x.go_mutex, pingpong-x.go_chan  the same two with
//	                GOMAXPROCS=2 (crosshub: bench/sync_cross.c's reference)
//
// BENCH_YIELDS, BENCH_TASKS, BENCH_BLOCKED, BENCH_ITEMS, BENCH_ROUNDS,
// BENCH_SEM_TASKS, BENCH_SEM_ROUNDS and BENCH_GATHER_TASKS change the
// counts, as for the C programs.
package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func envInt(name string, dflt int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return dflt
}

func check(ok bool, what string) {
	if !ok {
		fmt.Fprintln(os.Stderr, "check failed:", what)
		os.Exit(1)
	}
}

func report(name string, value float64, unit string) {
	fmt.Printf("%s %.2f %s\n", name, value, unit)
}

func rssKiB() int64 {
	f, err := os.Open("/proc/self/status")
	check(err == nil, "open /proc/self/status")
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if strings.HasPrefix(s.Text(), "VmRSS:") {
			fields := strings.Fields(s.Text())
			v, err := strconv.ParseInt(fields[1], 10, 64)
			check(err == nil, "parse VmRSS")
			return v
		}
	}
	check(false, "no VmRSS")
	return 0
}

func yieldRun(n int) time.Duration {
	var done [2]int
	var wg sync.WaitGroup
	wg.Add(2)
	start := time.Now()
	for g := 0; g < 2; g++ {
		go func(me int) {
			for i := 0; i < n; i++ {
				runtime.Gosched()
				done[me]++
			}
			wg.Done()
		}(g)
	}
	wg.Wait()
	d := time.Since(start)
	check(done[0] == n && done[1] == n, "yield counts")
	return d
}

func yield() {
	n := envInt("BENCH_YIELDS", 5000000)
	yieldRun(n / 100)
	d := yieldRun(n)
	report("yield.go", float64(d.Nanoseconds())/float64(2*n), "ns")
}

func spawnRun(n int, results []int) time.Duration {
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			results[i] = i + 1
			wg.Done()
		}(i)
	}
	wg.Wait()
	d := time.Since(start)
	for i := 0; i < n; i++ {
		check(results[i] == i+1, "every goroutine ran")
	}
	return d
}

func spawn() {
	n := envInt("BENCH_TASKS", 1000000)
	results := make([]int, n)
	spawnRun(n/100, results)
	d := spawnRun(n, results)
	report("spawn.go", float64(d.Nanoseconds())/float64(n), "ns")
}

func memory() {
	n := envInt("BENCH_BLOCKED", 1000000)
	done := make(chan struct{})
	var blocked, finished int64
	var wg sync.WaitGroup
	runtime.GC()
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	rss0 := rssKiB()
	wg.Add(n)
	for i := 0; i < n; i++ {
		go func() {
			atomic.AddInt64(&blocked, 1)
			<-done
			atomic.AddInt64(&finished, 1)
			wg.Done()
		}()
	}
	for atomic.LoadInt64(&blocked) < int64(n) {
		runtime.Gosched()
	}
	rss1 := rssKiB()
	runtime.ReadMemStats(&ms1)
	close(done)
	wg.Wait()
	check(finished == int64(n), "every goroutine woke")
	report("memory.go", float64(rss1-rss0)/float64(n), "KiB")
	report("memory.go_sys", float64(ms1.Sys-ms0.Sys)/1024/float64(n), "KiB")
}

// queueRun sends the items 1..n from a producer goroutine to a consumer
// over a channel of capacity c, then closes it; the consumer checks the
// order. Also checked: the producer is never more than c + 1 items ahead
// of the consumer (c buffered, one in the receiver's hands).
func queueRun(n, c int) time.Duration {
	ch := make(chan int, c)
	var sent, got, maxLead int
	var wg sync.WaitGroup
	wg.Add(2)
	start := time.Now()
	go func() {
		for v := range ch {
			check(v == got+1, "items in order")
			got++
		}
		wg.Done()
	}()
	go func() {
		for i := 1; i <= n; i++ {
			ch <- i
			sent++
			if sent-got > maxLead {
				maxLead = sent - got
			}
		}
		close(ch)
		wg.Done()
	}()
	wg.Wait()
	d := time.Since(start)
	check(sent == n && got == n, "queue counts")
	check(maxLead <= c+1, "producer ahead by at most capacity + 1")
	return d
}

func queue() {
	n := envInt("BENCH_ITEMS", 2000000)
	for _, k := range []struct {
		name     string
		capacity int
	}{{"queue.go_buffered", n}, {"queue.go_cap1", 1},
		{"queue.go_unbuffered", 0}} {
		queueRun(n/100, k.capacity)
		d := queueRun(n, k.capacity)
		report(k.name, float64(d.Nanoseconds())/float64(n), "ns")
	}
}

// eventChanRun ping-pongs n rounds over two unbuffered channels.
func eventChanRun(n int) time.Duration {
	ping, pong := make(chan int), make(chan int)
	var pinged, ponged int
	var wg sync.WaitGroup
	wg.Add(2)
	start := time.Now()
	go func() {
		for i := 0; i < n; i++ {
			check(<-ping == i, "ping in order")
			ponged++
			pong <- i
		}
		wg.Done()
	}()
	go func() {
		for i := 0; i < n; i++ {
			ping <- i
			check(<-pong == i, "pong in order")
			pinged++
			check(pinged == ponged, "one round at a time")
		}
		wg.Done()
	}()
	wg.Wait()
	d := time.Since(start)
	check(pinged == n && ponged == n, "event counts")
	return d
}

// eventCondRun ping-pongs n rounds over one sync.Cond: turn says whose
// move it is, and each side signals after handing it over.
func eventCondRun(n int) time.Duration {
	var mu sync.Mutex
	cond := sync.NewCond(&mu)
	turn, pinged, ponged := 0, 0, 0
	var wg sync.WaitGroup
	wg.Add(2)
	start := time.Now()
	go func() {
		mu.Lock()
		for i := 0; i < n; i++ {
			for turn != 1 {
				cond.Wait()
			}
			ponged++
			turn = 0
			cond.Signal()
		}
		mu.Unlock()
		wg.Done()
	}()
	go func() {
		mu.Lock()
		for i := 0; i < n; i++ {
			turn = 1
			cond.Signal()
			for turn != 0 {
				cond.Wait()
			}
			pinged++
			check(pinged == ponged, "one round at a time")
		}
		mu.Unlock()
		wg.Done()
	}()
	wg.Wait()
	d := time.Since(start)
	check(pinged == n && ponged == n, "event counts")
	return d
}

func event() {
	n := envInt("BENCH_ROUNDS", 1000000)
	eventChanRun(n / 100)
	d := eventChanRun(n)
	report("event.go_chan", float64(d.Nanoseconds())/float64(2*n), "ns")
	eventCondRun(n / 100)
	d = eventCondRun(n)
	report("event.go_cond", float64(d.Nanoseconds())/float64(2*n), "ns")
}

// semRun has n goroutines take a semaphore (acquire/release) k times
// each. main holds it until every goroutine has started and blocked in
// its first acquire, as in sync_sem.c. Go's scheduler does not queue them
// in spawn order and sync.Mutex is not FIFO, so only the counts and the
// exclusion are checked.
func semRun(n, k int, acquire, release func()) time.Duration {
	var started int64
	holder, takes := -1, 0
	counts := make([]int, n)
	var wg sync.WaitGroup
	acquire()
	wg.Add(n)
	for g := 0; g < n; g++ {
		go func(me int) {
			atomic.AddInt64(&started, 1)
			for i := 0; i < k; i++ {
				acquire()
				check(holder == -1, "one holder at a time")
				holder = me
				takes++
				counts[me]++
				holder = -1
				release()
			}
			wg.Done()
		}(g)
	}
	// With one P, a goroutine runs from its start to its first acquire
	// without giving the thread up.
	for atomic.LoadInt64(&started) < int64(n) {
		runtime.Gosched()
	}
	check(takes == 0, "nobody got it early")
	start := time.Now()
	release()
	wg.Wait()
	d := time.Since(start)
	check(takes == n*k, "take count")
	for g := 0; g < n; g++ {
		check(counts[g] == k, "every goroutine got it k times")
	}
	return d
}

func sem() {
	n := envInt("BENCH_SEM_TASKS", 10000)
	k := envInt("BENCH_SEM_ROUNDS", 100)
	ch := make(chan struct{}, 1)
	chAcquire := func() { ch <- struct{}{} }
	chRelease := func() { <-ch }
	var mu sync.Mutex
	for _, s := range []struct {
		name             string
		acquire, release func()
	}{{"sem.go_chan", chAcquire, chRelease},
		{"sem.go_mutex", mu.Lock, mu.Unlock}} {
		semRun(n, (k+9)/10, s.acquire, s.release)
		d := semRun(n, k, s.acquire, s.release)
		report(s.name, float64(d.Nanoseconds())/float64(n*k), "ns")
	}
}

type outcome struct {
	value int
	err   error
}

// gatherRun is the errgroup pattern without the package: n goroutines,
// each storing its outcome in its own slot, and a WaitGroup.
func gatherRun(n int, out []outcome) time.Duration {
	var wg sync.WaitGroup
	for i := range out {
		out[i] = outcome{-1, nil}
	}
	start := time.Now()
	wg.Add(n)
	for i := 0; i < n; i++ {
		go func(i int) {
			out[i] = outcome{i + 1, nil}
			wg.Done()
		}(i)
	}
	wg.Wait()
	d := time.Since(start)
	for i := 0; i < n; i++ {
		check(out[i].value == i+1 && out[i].err == nil, "every result")
	}
	return d
}

func gather() {
	n := envInt("BENCH_GATHER_TASKS", 100000)
	out := make([]outcome, n)
	gatherRun(n, out) // warm-up at full size, as sync_gather.c
	d := gatherRun(n, out)
	report("gather.go", float64(d.Nanoseconds())/float64(n), "ns")
}

const usage = "usage: gobench yield|spawn|memory|queue|event|sem|gather|handoff|crosshub"

// handoffMutexRun ping-pongs n rounds between two goroutines over two
// sync.Mutex used as binary semaphores, each unlocked by the other side:
// every Unlock wakes the goroutine blocked in Lock (the reference for
// bench/blocking.c's futex and condvar wake-to-run).
func handoffMutexRun(n int) time.Duration {
	var a, b sync.Mutex
	a.Lock()
	b.Lock()
	count := 0
	var wg sync.WaitGroup
	wg.Add(1)
	start := time.Now()
	go func() {
		for i := 0; i < n; i++ {
			a.Lock()
			count++
			b.Unlock()
		}
		wg.Done()
	}()
	for i := 0; i < n; i++ {
		a.Unlock()
		b.Lock()
		check(count == i+1, "one round at a time")
	}
	wg.Wait()
	return time.Since(start)
}

func handoff() {
	n := envInt("BENCH_ROUNDS", 200000)
	report("handoff.go_mutex", float64(handoffMutexRun(n).Nanoseconds())/float64(2*n), "ns")
	report("handoff.go_chan", float64(eventChanRun(n).Nanoseconds())/float64(2*n), "ns")
}

// crosshub is handoff with GOMAXPROCS=2: the two goroutines may run on
// two OS threads, the reference for bench/sync_cross.c's ping-pong
// between two hubs.
func crosshub() {
	runtime.GOMAXPROCS(2)
	n := envInt("BENCH_PINGPONG_ROUNDS", 100000)
	report("pingpong-x.go_mutex", float64(handoffMutexRun(n).Nanoseconds())/float64(2*n), "ns")
	report("pingpong-x.go_chan", float64(eventChanRun(n).Nanoseconds())/float64(2*n), "ns")
}

func main() {
	runtime.GOMAXPROCS(1)
	benches := map[string]func(){
		"yield": yield, "spawn": spawn, "memory": memory,
		"queue": queue, "event": event, "sem": sem, "gather": gather,
		"handoff": handoff, "crosshub": crosshub,
	}
	if len(os.Args) != 2 || benches[os.Args[1]] == nil {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	benches[os.Args[1]]()
}
