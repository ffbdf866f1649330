package wallclock

import (
	"testing"
	"time"
)

// TestNowIsTheWallClock checks that Now reads the wall clock: between two
// readings of time.Now, without a monotonic reading in the module.
func TestNowIsTheWallClock(t *testing.T) {
	for range 100 {
		before := time.Now().Round(0)
		now := Now()
		after := time.Now().Round(0)
		if now.Before(before) || now.After(after) {
			t.Fatalf("Now() = %v, not between %v and %v", now, before, after)
		}
	}
}
