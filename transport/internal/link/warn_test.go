package link

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// One warning a second gets through; the next says how many were held back.
func TestWarnLimiterLetsOneASecondThroughAndCountsTheRest(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(slog.NewTextHandler(&buf, nil))
	now := time.Unix(0, 0)
	w := &warnLimiter{now: func() time.Time { return now }}
	for range 10 {
		w.warn(l, "bad handshake")
	}
	now = now.Add(warnEvery)
	w.warn(l, "bad handshake")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("want 2 lines, got %d:\n%s", len(lines), buf.String())
	}
	if strings.Contains(lines[0], "suppressed") || !strings.Contains(lines[1], "suppressed=9") {
		t.Errorf("the second line must count the 9 held back:\n%s", buf.String())
	}
}
