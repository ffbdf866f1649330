package redis

import (
	"fmt"
	"math"
	"testing"
)

func TestIntListIsFmtsV(t *testing.T) {
	for _, values := range [][]int64{nil, {}, {0}, {1, -2, 3}, {math.MaxInt64, math.MinInt64}} {
		if got, want := intList(values), fmt.Sprint(values); got != want {
			t.Errorf("intList(%d) = %q, fmt gives %q", values, got, want)
		}
	}
}
