// Package jumpthread makes the jumps of a Go WebAssembly module direct
// where WebAssembly's structured control flow allows it.
//
// Go's Wasm backend (cmd/internal/obj/wasm) compiles each function that
// has jumps or calls into one loop around a jump table: every basic block
// and every point after a call is a resume point, the code of resume
// point k follows the end of the k-th of a run of nested blocks opened at
// the function's start, and a jump to a basic block stores the block's
// number in the function's PC_B local and branches back to the loop,
// where `br_table` on PC_B picks the block to leave. The table is what
// lets a goroutine resume in the middle of a function after the stack was
// unwound; for an ordinary jump it costs an indirect branch, and every
// jump joins every other at the loop's head, which leaves a compiler little
// to keep in registers.
//
// A jump forward, to a resume point whose block is still open where the
// jump is, can branch out of that block directly and land where the table
// would have sent it. Thread rewrites exactly those jumps: the pattern
// `i32.const N; local.set PC_B; br <loop>` keeps its constant and its
// store, so PC_B holds what it held before, and only the branch's label
// changes, from the loop to the block the table maps N to.
//
// A function's entry goes through the table too, with PC_B 0 for every
// call that is not a resumption. Thread puts a test of PC_B against 0
// before the table, which branches to where the table sends 0: a call
// then takes a conditional branch instead of the table's indirect one.
// Backward jumps (the loops of the Go code) and resumptions still go
// through the table. Nothing else in the module changes.
package jumpthread

import (
	"bytes"
	"errors"
	"fmt"
)

// Stats counts what Thread found and rewrote.
type Stats struct {
	// Functions is the number of function bodies read.
	Functions int
	// Dispatching is the number of those with Go's dispatch loop.
	Dispatching int
	// Threaded is the number of jumps made direct.
	Threaded int
	// Backward is the number of jumps left to the loop: their resume
	// point's block has already ended where they are.
	Backward int
	// Entries is the number of functions given the test of PC_B against 0
	// before their table.
	Entries int
}

// Rewrote reports whether Thread changed anything: a jump made direct or
// an entry given its test.
func (s Stats) Rewrote() bool { return s.Threaded > 0 || s.Entries > 0 }

const (
	sectionCode = 10

	opBlock    = 0x02
	opLoop     = 0x03
	opIf       = 0x04
	opBrIf     = 0x0d
	opEnd      = 0x0b
	opBr       = 0x0c
	opBrTable  = 0x0e
	opLocalGet = 0x20
	opLocalSet = 0x21
	opGlobGet  = 0x23
	opI32Const = 0x41
	opI32Eqz   = 0x45
)

var magic = []byte("\x00asm\x01\x00\x00\x00")

// Thread returns module with the forward jumps of its Go functions made
// direct (see the package comment). A module without such jumps comes
// back unchanged, the same slice; so does a module Thread already
// returned, which makes Thread idempotent. An error means module is not
// a WebAssembly binary of the shape Thread reads (it names the section
// or function and the offset); module is never modified.
func Thread(module []byte) ([]byte, Stats, error) {
	var stats Stats
	if !bytes.HasPrefix(module, magic) {
		return nil, stats, errors.New("jumpthread: not a WebAssembly 1.0 binary")
	}
	out := make([]byte, 0, len(module))
	out = append(out, magic...)
	r := reader{data: module, at: len(magic)}
	for !r.done() {
		id := r.byte()
		size := r.u32()
		start := r.at
		payload := r.bytes(int(size))
		if r.err != nil {
			return nil, stats, fmt.Errorf("jumpthread: section at offset %d: %w", start, r.err)
		}
		if id == sectionCode {
			code, err := threadCode(payload, start, &stats)
			if err != nil {
				return nil, stats, fmt.Errorf("jumpthread: code section: %w", err)
			}
			payload = code
		}
		out = append(out, id)
		out = appendU32(out, uint64(len(payload)))
		out = append(out, payload...)
	}
	if !stats.Rewrote() {
		return module, stats, nil
	}
	return out, stats, nil
}

// threadCode rewrites the code section's payload, which starts at offset
// base of the module, function by function.
func threadCode(payload []byte, base int, stats *Stats) ([]byte, error) {
	r := reader{data: payload}
	count := r.u32()
	out := appendU32(make([]byte, 0, len(payload)), count)
	for i := uint64(0); i < count && r.err == nil; i++ {
		size := r.u32()
		start := r.at
		body := r.bytes(int(size))
		if r.err != nil {
			return nil, fmt.Errorf("function body %d at offset %d: %w", i, base+start, r.err)
		}
		threaded, err := threadBody(body, base+start, stats)
		if err != nil {
			return nil, fmt.Errorf("function body %d at offset %d: %w", i, base+start, err)
		}
		out = appendU32(out, uint64(len(threaded)))
		out = append(out, threaded...)
	}
	if r.err != nil {
		return nil, r.err
	}
	if !r.done() {
		return nil, fmt.Errorf("%d bytes after the last function", len(payload)-r.at)
	}
	return out, nil
}

// dispatch is what threadBody knows of a function's dispatch loop.
type dispatch struct {
	loop  int      // the loop's place on the control stack
	pc    uint64   // the PC_B local
	table []uint64 // the br_table's labels, the default last
	depth int      // the control stack's height at the br_table
	get   int      // the offset of the `local.get PC_B` before the br_table
	entry bool     // the test of PC_B against 0 is already there
}

// target returns the control-stack place of the block the dispatch
// leaves for PC_B == pc, or -1 when that is not one of its blocks.
func (d *dispatch) target(pc int64) int {
	label := d.table[len(d.table)-1]
	if pc >= 0 && pc < int64(len(d.table)-1) {
		label = d.table[pc]
	}
	place := d.depth - 1 - int(label)
	if label >= uint64(d.depth) || place <= d.loop {
		return -1
	}
	return place
}

// threadBody rewrites one function body, which starts at offset base of
// the module; one without Go's dispatch loop comes back as it is.
func threadBody(body []byte, base int, stats *Stats) ([]byte, error) {
	stats.Functions++
	r := reader{data: body}
	d, ok := readPreamble(&r)
	if !ok {
		return body, nil
	}
	stats.Dispatching++
	// The control stack holds, for each open construct, the place it was
	// opened at: the preamble's constructs are 0 to d.depth-1, each later
	// one gets a number of its own, so that a place still holding its
	// own number is the construct opened there.
	stack := make([]int, d.depth, d.depth+16)
	for i := range stack {
		stack[i] = i
	}
	opened := d.depth
	out := make([]byte, 0, len(body)+8)
	if d.entry {
		out = append(out, body[:r.at]...)
	} else {
		// `local.get PC_B; i32.eqz; br_if <the table's label for 0>`, in
		// the innermost block like the table, so the label means the same.
		out = append(out, body[:d.get]...)
		out = append(out, opLocalGet)
		out = appendU32(out, d.pc)
		out = append(out, opI32Eqz, opBrIf)
		out = appendU32(out, d.table[0])
		out = append(out, body[d.get:r.at]...)
		stats.Entries++
	}
	// The last two instructions, as far as the pattern goes.
	const (
		other = iota
		constant
		storePC
	)
	var last, beforeLast int
	var constValue int64
	ended := false
	for !r.done() {
		at := r.at
		op := r.byte()
		kind := other
		switch op {
		case opBlock, opLoop, opIf:
			r.blockType()
			stack = append(stack, opened)
			opened++
		case opEnd:
			if len(stack) == 0 {
				// The function's own end, which must be its last byte.
				if !r.done() {
					return nil, fmt.Errorf("offset %d: code after the function's end", base+at)
				}
				ended = true
				break
			}
			stack = stack[:len(stack)-1]
		case opI32Const:
			constValue, kind = r.s64(), constant
		case opLocalSet:
			if r.u32() == d.pc {
				kind = storePC
			}
		case opBr:
			label := r.u32()
			if r.err != nil || label >= uint64(len(stack)) {
				break
			}
			if place := len(stack) - 1 - int(label); place != d.loop || stack[place] != d.loop ||
				beforeLast != constant || last != storePC {
				break
			}
			place := d.target(constValue)
			if place < 0 || place >= len(stack) || stack[place] != place {
				stats.Backward++
				break
			}
			out = append(out, opBr)
			out = appendU32(out, uint64(len(stack)-1-place))
			stats.Threaded++
			beforeLast, last = last, other
			continue
		default:
			if err := r.skipImmediates(op); err != nil {
				return nil, fmt.Errorf("offset %d: %w", base+at, err)
			}
		}
		if r.err != nil {
			return nil, fmt.Errorf("offset %d: %w", base+at, r.err)
		}
		out = append(out, body[at:r.at]...)
		beforeLast, last = last, kind
	}
	if !ended {
		return nil, fmt.Errorf("no end: %d constructs left open", len(stack))
	}
	return out, nil
}

// readPreamble reads a body's locals and, when the code starts as Go
// starts a function with a dispatch loop, that start: an optional copy of
// a global into a local (the SP cache), blocks and exactly one loop, then
// `local.get PC_B; br_table`, or the same with the test of PC_B against 0
// that Thread puts before the `local.get` (d.entry). It reports whether
// it found one; r is left after the br_table, or anywhere when it did
// not.
func readPreamble(r *reader) (dispatch, bool) {
	var d dispatch
	var entryLabel uint64
	for n := r.u32(); n > 0 && r.err == nil; n-- {
		r.u32()  // how many
		r.byte() // of which type
	}
	if r.peek() == opGlobGet {
		r.byte()
		r.u32()
		if r.byte() != opLocalSet {
			return d, false
		}
		r.u32()
	}
	d.loop = -1
	for r.err == nil && (r.peek() == opBlock || r.peek() == opLoop) {
		if r.byte() == opLoop {
			if d.loop >= 0 {
				return d, false
			}
			d.loop = d.depth
		}
		if r.byte() != 0x40 { // the empty block type
			return d, false
		}
		d.depth++
	}
	if d.loop < 0 || d.loop == d.depth-1 {
		return d, false
	}
	d.get = r.at
	if r.byte() != opLocalGet {
		return d, false
	}
	d.pc = r.u32()
	if r.peek() == opI32Eqz {
		// Thread's test: `i32.eqz; br_if <label>` and the table's own
		// `local.get PC_B`.
		r.byte()
		if r.byte() != opBrIf {
			return d, false
		}
		entryLabel = r.u32()
		if r.byte() != opLocalGet || r.u32() != d.pc {
			return d, false
		}
		d.entry = true
	}
	if r.byte() != opBrTable {
		return d, false
	}
	d.table = r.labels()
	if d.entry && (len(d.table) == 0 || entryLabel != d.table[0]) {
		return d, false
	}
	return d, r.err == nil
}
