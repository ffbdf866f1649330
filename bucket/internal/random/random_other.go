//go:build !wasip1

package random

import (
	"crypto/rand"
	"io"
)

// Reader is crypto/rand.Reader.
var Reader io.Reader = rand.Reader
