package jumpthread

import (
	"errors"
	"fmt"
)

// errTruncated is the error of a read past the end of the data.
var errTruncated = errors.New("unexpected end of data")

// reader decodes the WebAssembly binary format. The first error sticks:
// later reads return zero values, so a caller checks err once after a
// run of reads.
type reader struct {
	data []byte
	at   int
	err  error
}

func (r *reader) done() bool { return r.err != nil || r.at >= len(r.data) }

// peek returns the next byte without reading it, 0 at the end.
func (r *reader) peek() byte {
	if r.err != nil || r.at >= len(r.data) {
		return 0
	}
	return r.data[r.at]
}

func (r *reader) byte() byte {
	if r.err != nil {
		return 0
	}
	if r.at >= len(r.data) {
		r.err = errTruncated
		return 0
	}
	c := r.data[r.at]
	r.at++
	return c
}

// bytes returns the next n bytes.
func (r *reader) bytes(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.data)-r.at {
		r.err = errTruncated
		return nil
	}
	b := r.data[r.at : r.at+n]
	r.at += n
	return b
}

// u32 reads an unsigned LEB128 number of at most 32 bits.
func (r *reader) u32() uint64 {
	var v uint64
	for shift := 0; shift < 35; shift += 7 {
		c := r.byte()
		v |= uint64(c&0x7f) << shift
		if c < 0x80 {
			if v > 1<<32-1 {
				r.fail(errors.New("u32 out of range"))
			}
			return v
		}
	}
	r.fail(errors.New("u32 longer than 5 bytes"))
	return 0
}

// s64 reads a signed LEB128 number of at most 64 bits (also i32.const's
// and a block type's).
func (r *reader) s64() int64 {
	var v int64
	for shift := 0; shift < 70; shift += 7 {
		c := r.byte()
		v |= int64(c&0x7f) << shift
		if c < 0x80 {
			if shift+7 < 64 && c&0x40 != 0 {
				v |= -1 << (shift + 7)
			}
			return v
		}
	}
	r.fail(errors.New("s64 longer than 10 bytes"))
	return 0
}

func (r *reader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

// labels reads the labels of a br_table, its default last.
func (r *reader) labels() []uint64 {
	n := r.u32()
	if r.err != nil || n >= uint64(len(r.data)-r.at) { // each label takes a byte at least
		r.fail(errTruncated)
		return nil
	}
	labels := make([]uint64, n+1)
	for i := range labels {
		labels[i] = r.u32()
	}
	return labels
}

// blockType reads the type of a block, loop or if: the empty type, one
// value type, or a type index.
func (r *reader) blockType() {
	switch r.peek() {
	case 0x40, 0x7f, 0x7e, 0x7d, 0x7c, 0x7b, 0x70, 0x6f:
		r.byte()
	default:
		r.s64()
	}
}

// skipImmediates reads the immediates of op, an instruction other than
// the control constructs, br, local.set and i32.const, which threadBody
// reads itself. An opcode it does not know is an error: Thread would
// otherwise lose its place in the body.
func (r *reader) skipImmediates(op byte) error {
	switch {
	case op == 0x00, op == 0x01, op == 0x05, op == 0x0f, op == 0x1a, op == 0x1b, // unreachable nop else return drop select
		op >= 0x45 && op <= 0xc4, // numeric, conversions, sign extension
		op == 0xd1:               // ref.is_null
	case op == 0x0d, op == 0x10, // br_if, call
		op == 0x20, op == 0x22, op == 0x23, op == 0x24, op == 0x25, op == 0x26, // locals, globals, tables
		op == 0xd2: // ref.func
		r.u32()
	case op == 0x0e: // br_table
		r.labels()
	case op == 0x11: // call_indirect
		r.u32()
		r.u32()
	case op == 0x1c: // select with types
		r.bytes(int(r.u32()))
	case op >= 0x28 && op <= 0x3e: // loads and stores: align, offset
		r.u32()
		r.u32()
	case op == 0x3f, op == 0x40, op == 0xd0: // memory.size, memory.grow, ref.null
		r.byte()
	case op == 0x42: // i64.const
		r.s64()
	case op == 0x43: // f32.const
		r.bytes(4)
	case op == 0x44: // f64.const
		r.bytes(8)
	case op == 0xfc:
		return r.skipPrefixed()
	default:
		return fmt.Errorf("unknown opcode %#02x", op)
	}
	return nil
}

// skipPrefixed reads an instruction of the 0xfc prefix: saturating
// conversions and bulk memory and table operations.
func (r *reader) skipPrefixed() error {
	switch sub := r.u32(); {
	case sub <= 7: // trunc_sat
	case sub == 8: // memory.init
		r.u32()
		r.byte()
	case sub == 9, sub == 13, sub == 15, sub == 16, sub == 17: // data.drop, elem.drop, table.grow/size/fill
		r.u32()
	case sub == 10: // memory.copy
		r.byte()
		r.byte()
	case sub == 11: // memory.fill
		r.byte()
	case sub == 12, sub == 14: // table.init, table.copy
		r.u32()
		r.u32()
	default:
		return fmt.Errorf("unknown opcode 0xfc %d", sub)
	}
	return nil
}

// appendU32 appends v as unsigned LEB128, in as few bytes as it takes.
func appendU32(dst []byte, v uint64) []byte {
	for v >= 0x80 {
		dst = append(dst, byte(v)|0x80)
		v >>= 7
	}
	return append(dst, byte(v))
}
