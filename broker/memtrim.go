package broker

import (
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"time"
)

// The memory trimmer gives a quiet broker's freed heap back to the system.
//
// The Go heap grows to about twice what is live before the collector runs
// (GOGC=100), and what a collection frees stays resident until the
// runtime's scavenger returns it, which it does only past the heap goal:
// a broker that went quiet after a burst (10,000 devices connected, then
// silence) keeps its RSS at about twice its live memory for good, which
// is most of what an idle connection costs (BENCHMARKS.md, issue 15).
//
// Every interval the trimmer reads five runtime metrics. When the broker
// is quiet — it allocated less than an eighth of its live heap since the
// last look, so the collector would not run for a long while — and it was
// busy at the look before, or its resident heap is more than a quarter
// above what is live, it runs one collection and returns every free page
// (debug.FreeOSMemory). A busy
// broker allocates far more than that between two looks, so under load
// the trimmer never collects: the throughput path pays one metrics read
// per interval, nothing more. A quiet broker pays one collection per trim,
// a few milliseconds for tens of megabytes live, and trims again only
// once as much has been allocated and freed.
//
// It is one per process (the runtime's heap is), started by the first
// serving [Server] that wants it and stopped with the last.
var trimmer struct {
	mu    sync.Mutex
	users int
	every time.Duration
	quit  chan struct{}
	done  chan struct{}
	// trims counts the collections it ran, for tests and the log.
	trims int
	// hooks run before each trim (see startTrimmer), by user.
	hooks  map[int]func()
	nextID int
}

// trimMetrics are the samples the trimmer reads, in this order.
var trimMetrics = []string{
	"/gc/heap/allocs:bytes",              // allocated since the process started
	"/gc/heap/live:bytes",                // live after the last collection
	"/memory/classes/heap/objects:bytes", // objects, live or not yet collected
	"/memory/classes/heap/unused:bytes",  // free slots in spans that hold objects
	"/memory/classes/heap/free:bytes",    // free spans not yet returned
}

// startTrimmer starts the process's trimmer (or counts one more user of
// it); every <= 0 does nothing. onTrim, if not nil, runs at the first
// quiet look after a busy one while this use lasts, before the trimmer
// decides: it lets go what the user keeps warm for traffic (the event
// loop's idle workers and their grown stacks). The returned func stops
// this use.
func startTrimmer(every time.Duration, onTrim func()) (stop func()) {
	if every <= 0 {
		return func() {}
	}
	trimmer.mu.Lock()
	defer trimmer.mu.Unlock()
	id := trimmer.nextID
	trimmer.nextID++
	if onTrim != nil {
		if trimmer.hooks == nil {
			trimmer.hooks = make(map[int]func())
		}
		trimmer.hooks[id] = onTrim
	}
	trimmer.users++
	if trimmer.users == 1 {
		trimmer.every = every
		trimmer.quit = make(chan struct{})
		trimmer.done = make(chan struct{})
		go trimLoop(every, trimmer.quit, trimmer.done)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			trimmer.mu.Lock()
			delete(trimmer.hooks, id)
			trimmer.users--
			var quit, done chan struct{}
			if trimmer.users == 0 {
				quit, done = trimmer.quit, trimmer.done
			}
			trimmer.mu.Unlock()
			if quit != nil {
				close(quit)
				<-done
			}
		})
	}
}

func trimLoop(every time.Duration, quit, done chan struct{}) {
	defer close(done)
	samples := make([]metrics.Sample, len(trimMetrics))
	for i, name := range trimMetrics {
		samples[i].Name = name
	}
	read := func() (allocs, live, resident uint64) {
		metrics.Read(samples)
		v := func(i int) uint64 {
			if samples[i].Value.Kind() != metrics.KindUint64 {
				return 0 // a runtime without the metric: never trims
			}
			return samples[i].Value.Uint64()
		}
		return v(0), v(1), v(2) + v(3) + v(4)
	}
	last, _, _ := read()
	busy := false // the last look found the broker allocating
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-quit:
			return
		}
		allocs, live, resident := read()
		quiet := allocs-last < live/8
		last = allocs
		wasBusy := busy
		busy = !quiet
		if quiet && wasBusy {
			// The first quiet look after traffic: what users keep warm
			// for it goes (the event loop's idle workers, whose stacks
			// the traffic grew), then the freed stacks count as free heap.
			runHooks()
			_, _, resident = read()
		}
		if shouldTrim(quiet, wasBusy, live, resident) {
			debug.FreeOSMemory()
			last, _, _ = read()
			trimmer.mu.Lock()
			trimmer.trims++
			trimmer.mu.Unlock()
		}
	}
}

// runHooks runs the users' onTrim hooks (see startTrimmer).
func runHooks() {
	trimmer.mu.Lock()
	hooks := make([]func(), 0, len(trimmer.hooks))
	for _, h := range trimmer.hooks {
		hooks = append(hooks, h)
	}
	trimmer.mu.Unlock()
	for _, h := range hooks {
		h()
	}
}

// shouldTrim decides a look: only when quiet; then, since live is as of
// the last collection — after a busy spell possibly its peak (full
// queues), with no collection following while nothing allocates — the
// first quiet look trims whatever is resident past live, and later ones
// only once the heap grew a quarter past it.
func shouldTrim(quiet, wasBusy bool, live, resident uint64) bool {
	if !quiet || live == 0 {
		return false
	}
	if wasBusy {
		return resident > live+trimSlack
	}
	return resident > live+live/4+trimSlack
}

// trimSlack is what the trimmer leaves resident above the live heap in any
// case: below it a collection is not worth its CPU. 1 MB (was 4): a
// collection of a small broker's heap takes a millisecond or two, and the
// 4 MB left after its traffic were most of what its connections seemed to
// cost (1,000 connections idle after a ramp: 4,250 -> 2,580 bytes each,
// in process).
const trimSlack = 1 << 20
