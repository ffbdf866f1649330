package bucket

import (
	"bytes"
	"math"
	"testing"
	"time"
)

func TestCodecRoundTrip(t *testing.T) {
	g := gcraOf(Limit{10, time.Minute})
	states := []State{
		{},
		{TAT: t0, Frac: 9, Latest: t0, Restarts: 1},
		{TAT: math.MaxInt64, Frac: 0, Latest: math.MaxInt64, Restarts: math.MaxUint32},
		{TAT: math.MinInt64, Frac: 5},
	}
	owner := readDigest([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
	for _, s := range states {
		v := encodeBucket(s)
		if len(v) != bucketValueSize {
			t.Fatalf("bucket value of %d bytes", len(v))
		}
		got, ok := decodeBucket(v, g)
		if !ok || got != s {
			t.Fatalf("bucket %+v decodes to %+v %v", s, got, ok)
		}
		v = encodeSlot(owner, s)
		if len(v) != slotValueSize {
			t.Fatalf("slot value of %d bytes", len(v))
		}
		gotOwner, got, ok := decodeSlot(v, g)
		if !ok || got != s || gotOwner != owner {
			t.Fatalf("slot %+v decodes to %x %+v %v", s, gotOwner, got, ok)
		}
	}
}

func TestCodecGolden(t *testing.T) {
	v := encodeBucket(State{TAT: 0x0102030405060708, Frac: 3, Latest: 0x1112131415161718, Restarts: 0x0a0b0c0d})
	want := []byte{1, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0, 0, 0, 0, 3,
		0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x0a, 0x0b, 0x0c, 0x0d}
	if !bytes.Equal(v, want) {
		t.Fatalf("encodeBucket = %v, want %v", v, want)
	}
	// A slot: the owner digest's bytes as the HMAC gave them, then the
	// state. Values outlive a module upgrade under one vm_id, so the
	// layout must not change with the digest's representation.
	owner := []byte{0xf0, 0xe1, 0xd2, 0xc3, 0xb4, 0xa5, 0x96, 0x87, 0x78, 0x69, 0x5a, 0x4b, 0x3c, 0x2d, 0x1e, 0x0f}
	v = encodeSlot(readDigest(owner), State{TAT: 0x0102030405060708, Frac: 3, Latest: 0x1112131415161718, Restarts: 0x0a0b0c0d})
	want = append(append([]byte{2}, owner...), want[1:]...)
	if !bytes.Equal(v, want) {
		t.Fatalf("encodeSlot = %v, want %v", v, want)
	}
}

func TestCodecRejectsCorruptValues(t *testing.T) {
	g := gcraOf(Limit{10, time.Minute})
	good := encodeBucket(State{TAT: t0, Frac: 1})
	badFrac := encodeBucket(State{TAT: t0, Frac: 10})
	negFrac := encodeBucket(State{TAT: t0, Frac: -1})
	slot := encodeSlot(digest{hi: 1}, State{TAT: t0})
	badSlotFrac := encodeSlot(digest{hi: 1}, State{Frac: 11})
	tests := []struct {
		name  string
		value []byte
		slot  bool
	}{
		{"empty bucket value", nil, false},
		{"short bucket value", good[:20], false},
		{"long bucket value", append(append([]byte{}, good...), 0), false},
		{"slot value as bucket", slot, false},
		{"frac too large", badFrac, false},
		{"negative frac", negFrac, false},
		{"empty slot value", []byte{}, true},
		{"bucket value as slot", good, true},
		{"short slot value", slot[:44], true},
		{"negative latest", encodeBucket(State{Latest: -1}), false},
		{"slot frac too large", badSlotFrac, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ok bool
			if tt.slot {
				_, _, ok = decodeSlot(tt.value, g)
			} else {
				_, ok = decodeBucket(tt.value, g)
			}
			if ok {
				t.Fatalf("corrupt value %v decoded", tt.value)
			}
		})
	}
}
