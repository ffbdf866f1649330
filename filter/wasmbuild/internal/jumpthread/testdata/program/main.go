// Command program exercises what a Go module's resume points serve, for
// TestThreadedGoProgram: goroutine switches, stack growth, panics
// through deferred calls, and plenty of ordinary jumps. It prints a
// transcript that must not change when its jumps are threaded.
package main

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
)

// depth recurses n deep with a frame large enough to grow the stack
// many times.
func depth(n int) int {
	var pad [64]int
	pad[n%64] = n
	if n == 0 {
		return pad[0]
	}
	return depth(n-1) + pad[n%64]%7
}

// pipeline passes numbers through three goroutines over unbuffered
// channels: every send and receive switches goroutines.
func pipeline(n int) int {
	src, sq, out := make(chan int), make(chan int), make(chan int)
	go func() {
		for i := range n {
			src <- i
		}
		close(src)
	}()
	go func() {
		for v := range src {
			sq <- v * v
		}
		close(sq)
	}()
	go func() {
		sum := 0
		for v := range sq {
			sum += v
		}
		out <- sum
	}()
	return <-out
}

// selectLoop takes from two channels by select until both are closed.
func selectLoop() string {
	a, b := make(chan string), make(chan string)
	go func() {
		for _, s := range []string{"a1", "a2", "a3"} {
			a <- s
		}
		close(a)
	}()
	go func() {
		for _, s := range []string{"b1", "b2"} {
			b <- s
		}
		close(b)
	}()
	var got []string
	for a != nil || b != nil {
		select {
		case s, ok := <-a:
			if !ok {
				a = nil
				continue
			}
			got = append(got, s)
		case s, ok := <-b:
			if !ok {
				b = nil
				continue
			}
			got = append(got, s)
		}
	}
	sort.Strings(got)
	return strings.Join(got, ",")
}

var errOdd = errors.New("odd")

// recovered panics through two deferred calls and reports what each saw.
func recovered(n int) (log string, err error) {
	defer func() {
		if r := recover(); r != nil {
			log += fmt.Sprint("recovered:", r)
			err = errOdd
		}
	}()
	defer func() { log += "deferred;" }()
	if n%2 == 1 {
		panic(n)
	}
	var nilMap map[string]int
	if n == 4 {
		nilMap["x"] = 1 // a runtime panic
	}
	return "even;", nil
}

// tokens splits a JSON-like text into kinds of tokens, jump by jump.
func tokens(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		switch c := s[i]; {
		case c == ' ':
			i++
		case c == '"':
			j := i + 1
			for j < len(s) && s[j] != '"' {
				if s[j] == '\\' {
					j++
				}
				j++
			}
			b.WriteString("S")
			i = j + 1
		case c == '-' || (c >= '0' && c <= '9'):
			j := i + 1
			for j < len(s) && (s[j] == '.' || (s[j] >= '0' && s[j] <= '9')) {
				j++
			}
			if _, err := strconv.ParseFloat(s[i:j], 64); err != nil {
				b.WriteString("!")
			} else {
				b.WriteString("N")
			}
			i = j
		case strings.HasPrefix(s[i:], "true"), strings.HasPrefix(s[i:], "null"):
			b.WriteString("L")
			i += 4
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String()
}

func main() {
	fmt.Println("depth", depth(3000))
	fmt.Println("pipeline", pipeline(500))
	fmt.Println("select", selectLoop())
	for n := range 6 {
		log, err := recovered(n)
		fmt.Println("recovered", n, log, err)
	}
	counts := map[string]int{}
	for i := range 2000 {
		counts[strconv.Itoa(i%37)] += i
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return counts[keys[i]] < counts[keys[j]] })
	fmt.Println("map", keys[:5], counts[keys[0]], counts[keys[36]])
	fmt.Println("tokens", tokens(`{"a": [1, -2.5, "x\"y", true, null], "b": {"c": 3e}}`))
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Println("gc", ms.NumGC > 0)
	fmt.Fprintln(os.Stderr, "done")
}
