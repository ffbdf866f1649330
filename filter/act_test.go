package filter

import (
	"strconv"
	"testing"
)

// TestRetryAfterText checks that the remembered Retry-After text follows
// the value: repeated, changed, changed back, and zero first.
func TestRetryAfterText(t *testing.T) {
	for _, seq := range [][]int64{
		{1, 1, 2, 1},
		{0, 0, 7},
		{3600, 3599, 3599, 100, 99},
	} {
		s := &settings{}
		for _, seconds := range seq {
			if got, want := s.retryAfterText(seconds), strconv.FormatInt(seconds, 10); got != want {
				t.Errorf("after %v: retryAfterText(%d) = %q, want %q", seq, seconds, got, want)
			}
		}
	}
}
