//go:build !wasip1

package wallclock

import "time"

// Now returns time.Now().
func Now() time.Time { return time.Now() }
