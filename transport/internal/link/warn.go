package link

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// warnEvery is how often a warning caused by the network may be logged:
// anyone who can reach the port can cause them, and must not be able to
// flood the log. Every occurrence is still counted in Stats.
const warnEvery = time.Second

// warnLimiter lets one warning through per warnEvery and says, with the
// next one it lets through, how many it held back.
type warnLimiter struct {
	now func() time.Time

	mu         sync.Mutex
	next       time.Time
	suppressed int
}

func newWarnLimiter() *warnLimiter { return &warnLimiter{now: time.Now} }

// warn logs msg on l at Warn level if the limit allows, else counts it.
func (w *warnLimiter) warn(l *slog.Logger, msg string, args ...any) {
	w.mu.Lock()
	now := w.now()
	if now.Before(w.next) {
		w.suppressed++
		w.mu.Unlock()
		return
	}
	w.next = now.Add(warnEvery)
	held := w.suppressed
	w.suppressed = 0
	w.mu.Unlock()
	if held > 0 {
		args = append(args, "suppressed", held)
	}
	l.Log(context.Background(), slog.LevelWarn, msg, args...)
}
