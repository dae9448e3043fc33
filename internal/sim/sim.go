// Package sim is a deterministic discrete-event simulator: a virtual clock,
// a queue of scheduled events and a seeded source of randomness, plus a
// simulated network with the faults real ones have. Given the same seed, a
// simulation takes exactly the same steps, so any failure it finds can be
// replayed. It knows nothing of Raft: raftlite's simulation tests put Raft
// nodes on top of it.
package sim

import (
	"container/heap"
	"math/rand/v2"
	"time"
)

// Scheduler runs events in virtual-time order; events at the same instant
// run in the order they were scheduled.
type Scheduler struct {
	Rand  *rand.Rand // the simulation's only source of randomness
	now   time.Duration
	queue eventQueue
	seq   uint64
	steps uint64
}

// New returns a scheduler at virtual time zero whose randomness is drawn from seed.
func New(seed uint64) *Scheduler {
	return &Scheduler{Rand: rand.New(rand.NewPCG(seed, 0x5eed))}
}

// Now returns the virtual time.
func (s *Scheduler) Now() time.Duration { return s.now }

// Steps returns how many events have run.
func (s *Scheduler) Steps() uint64 { return s.steps }

// After schedules f to run d from now.
func (s *Scheduler) After(d time.Duration, f func()) { s.At(s.now+max(d, 0), f) }

// At schedules f to run at virtual time t (now, if t is past).
func (s *Scheduler) At(t time.Duration, f func()) {
	s.seq++
	heap.Push(&s.queue, event{at: max(t, s.now), seq: s.seq, run: f})
}

// Step runs the next event and reports whether there was one.
func (s *Scheduler) Step() bool {
	if len(s.queue) == 0 {
		return false
	}
	e := heap.Pop(&s.queue).(event)
	s.now = e.at
	s.steps++
	e.run()
	return true
}

// RunUntil runs events until virtual time t, or until stop returns true
// after an event. It reports whether stop ended the run.
func (s *Scheduler) RunUntil(t time.Duration, stop func() bool) bool {
	for len(s.queue) > 0 && s.queue[0].at <= t {
		s.Step()
		if stop != nil && stop() {
			return true
		}
	}
	s.now = max(s.now, t)
	return false
}

// Between returns a duration drawn uniformly from [lo, hi].
func (s *Scheduler) Between(lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	return lo + time.Duration(s.Rand.Int64N(int64(hi-lo)+1))
}

// Chance returns true with probability p.
func (s *Scheduler) Chance(p float64) bool { return p > 0 && s.Rand.Float64() < p }

type event struct {
	at  time.Duration
	seq uint64
	run func()
}

type eventQueue []event

func (q eventQueue) Len() int { return len(q) }
func (q eventQueue) Less(i, j int) bool {
	return q[i].at < q[j].at || (q[i].at == q[j].at && q[i].seq < q[j].seq)
}
func (q eventQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *eventQueue) Push(x any)   { *q = append(*q, x.(event)) }
func (q *eventQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	old[len(old)-1] = event{}
	*q = old[:len(old)-1]
	return e
}
