// Go references for bench/yield.c, bench/spawn.c and bench/memory.c,
// measured the same way, with GOMAXPROCS=1 (one OS thread runs goroutines,
// as one hub does). Standard library only; build with
// `go build -o gobench main.go` (no module, no network).
//
// Usage: gobench yield|spawn|memory. Prints `name value unit` lines:
//
//	yield.go        ns per runtime.Gosched(), two goroutines taking turns
//	spawn.go        ns per goroutine: 1,000,000 `go f()` that return at
//	                once, then WaitGroup.Wait
//	memory.go       KiB of VmRSS per goroutine, 1,000,000 blocked at once
//	memory.go_sys   KiB of runtime.MemStats.Sys per goroutine, ditto
//
// BENCH_YIELDS, BENCH_TASKS and BENCH_BLOCKED change the counts, as for
// the C programs.
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

func main() {
	runtime.GOMAXPROCS(1)
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: gobench yield|spawn|memory")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "yield":
		yield()
	case "spawn":
		spawn()
	case "memory":
		memory()
	default:
		fmt.Fprintln(os.Stderr, "usage: gobench yield|spawn|memory")
		os.Exit(2)
	}
}
