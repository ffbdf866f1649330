package jumpthread

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"
)

// Instructions of the hand-written functions below.
const (
	i32Add  = 0x6a
	i32Eqz  = 0x45
	brIf    = 0x0d
	i32LtS  = 0x48
	i32GtS  = 0x4a
	ret     = 0x0f
	unreach = 0x00
	void    = 0x40
)

// jump is Go's jump to the basic block at pc: PC_B (local 0) set, then a
// branch to the dispatch loop, depth labels out.
func jump(pc, depth byte) []byte {
	return []byte{opI32Const, pc, opLocalSet, 0, opBr, depth}
}

// addToX adds n (< 64) to local 1.
func addToX(n byte) []byte {
	return []byte{opLocalGet, 1, opI32Const, n, i32Add, opLocalSet, 1}
}

// ifX opens an if on local 1 compared with n (< 64) by op.
func ifX(op, n byte) []byte {
	return []byte{opLocalGet, 1, opI32Const, n, op, opIf, void}
}

// goFunction is a function of Go's shape with three resume points, whose
// code (seg0, seg1, seg2) follows the dispatch's blocks, and which
// returns local 1 from seg2.
func goFunction(seg0, seg1, seg2 []byte) []byte {
	body := []byte{
		1, 1, 0x7f, // locals: one i32 (local 1)
		opBlock, void, // place 0: Go's unwind exit
		opLoop, void, // place 1: the dispatch loop
		opBlock, void, opBlock, void, opBlock, void, // places 2, 3, 4
		opLocalGet, 0, opBrTable, 3, 0, 1, 2, 2, // pc 0, 1, 2, and the default: resume points 0, 1, 2
		opEnd, // place 4: resume point 0
	}
	body = append(body, seg0...)
	body = append(body, opEnd) // place 3: resume point 1
	body = append(body, seg1...)
	body = append(body, opEnd) // place 2: resume point 2
	body = append(body, seg2...)
	body = append(body, opLocalGet, 1, ret)
	return append(body, opEnd, unreach, opEnd, opI32Const, 1, opEnd)
}

// withEntryTest is goFunction's body as Thread leaves its entry: PC_B
// tested against 0 before the table, with a branch to where the table
// sends 0 (label 0, the innermost block).
func withEntryTest(body []byte) []byte {
	return bytes.Replace(body, []byte{opLocalGet, 0, opBrTable},
		[]byte{opLocalGet, 0, i32Eqz, brIf, 0, opLocalGet, 0, opBrTable}, 1)
}

func concat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// moduleHead returns the sections of moduleOf's modules before the code.
func moduleHead() []byte {
	m := append([]byte{}, magic...)
	m = append(m, 1, 6, 1, 0x60, 1, 0x7f, 1, 0x7f) // type: (i32) -> i32
	m = append(m, 3, 2, 1, 0)                      // function 0 of type 0
	return append(m, 7, 5, 1, 1, 'f', 0, 0)        // export "f"
}

// moduleOf returns a module whose one function, exported as "f", takes
// an i32 (Go's PC_B) and returns an i32, with body.
func moduleOf(body []byte) []byte {
	m := moduleHead()
	code := appendU32([]byte{1}, uint64(len(body)))
	code = append(code, body...)
	m = append(m, sectionCode)
	m = appendU32(m, uint64(len(code)))
	return append(m, code...)
}

// call runs module's f for each pc and returns the results.
func call(t *testing.T, module []byte, pcs ...uint64) []uint64 {
	t.Helper()
	ctx := context.Background()
	r := wazero.NewRuntime(ctx)
	defer r.Close(ctx)
	mod, err := r.Instantiate(ctx, module)
	if err != nil {
		t.Fatalf("instantiating: %v", err)
	}
	var results []uint64
	for _, pc := range pcs {
		res, err := mod.ExportedFunction("f").Call(ctx, pc)
		if err != nil {
			t.Fatalf("f(%d): %v", pc, err)
		}
		results = append(results, res[0])
	}
	return results
}

func TestThread(t *testing.T) {
	// seg1 and seg2 loop back: seg1 to itself while local 1 < 5, seg2 to
	// seg1 while it is < 2000. From place 3's segment (seg1) and place 2's
	// (seg2) the dispatch loop is at depth 1 at the top level.
	seg1 := concat(addToX(1), ifX(i32LtS, 5), jump(1, 2), []byte{opEnd})
	seg2 := concat([]byte{opLocalGet, 1, opI32Const, 0xe8, 0x07, i32Add, opLocalSet, 1}, // += 1000
		[]byte{opLocalGet, 1, opI32Const, 0xd0, 0x0f, i32LtS, opIf, void}, jump(1, 1), []byte{opEnd}) // < 2000
	tests := []struct {
		name      string
		seg0      []byte
		wantSeg0  []byte
		wantStats Stats
	}{
		{
			name: "forward jumps branch to their block, inside an if and at the top",
			// In seg0 the stack is places 0-3 (the loop at depth 2), in
			// its if places 0-3 and the if (the loop at depth 3).
			seg0:      concat(addToX(60), ifX(i32GtS, 50), jump(2, 3), []byte{opEnd}, jump(1, 2)),
			wantSeg0:  concat(addToX(60), ifX(i32GtS, 50), jump(2, 2), []byte{opEnd}, jump(1, 0)),
			wantStats: Stats{Functions: 1, Dispatching: 1, Threaded: 2, Backward: 2, Entries: 1},
		},
		{
			name:      "a pc past the table goes where its default goes",
			seg0:      concat(addToX(60), jump(9, 2)),
			wantSeg0:  concat(addToX(60), jump(9, 1)),
			wantStats: Stats{Functions: 1, Dispatching: 1, Threaded: 1, Backward: 2, Entries: 1},
		},
		{
			name:      "a branch to the loop after a store to another local stays",
			seg0:      concat(addToX(60), []byte{opI32Const, 2, opLocalSet, 1, opI32Const, 2, opLocalSet, 0, opI32Const, 60, opLocalSet, 1, opBr, 2}),
			wantSeg0:  concat(addToX(60), []byte{opI32Const, 2, opLocalSet, 1, opI32Const, 2, opLocalSet, 0, opI32Const, 60, opLocalSet, 1, opBr, 2}),
			wantStats: Stats{Functions: 1, Dispatching: 1, Threaded: 0, Backward: 2, Entries: 1},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			module := moduleOf(goFunction(tc.seg0, seg1, seg2))
			want := moduleOf(withEntryTest(goFunction(tc.wantSeg0, seg1, seg2)))
			got, stats, err := Thread(module)
			if err != nil {
				t.Fatal(err)
			}
			if stats != tc.wantStats {
				t.Errorf("stats %+v, want %+v", stats, tc.wantStats)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("threaded module\n% x\nwant\n% x", got, want)
			}
			if before, after := call(t, module, 0, 1, 2, 9), call(t, got, 0, 1, 2, 9); !slices.Equal(before, after) {
				t.Errorf("f(0, 1, 2, 9) returns %v threaded, %v before", after, before)
			}
			again, stats, err := Thread(got)
			if err != nil || stats.Threaded != 0 || stats.Entries != 0 || stats.Dispatching != 1 || !bytes.Equal(again, got) {
				t.Errorf("threading again: stats %+v, error %v, changed %t", stats, err, !bytes.Equal(again, got))
			}
		})
	}
}

func TestThreadLeavesOtherModulesAlone(t *testing.T) {
	tests := []struct {
		name string
		body []byte
	}{
		{"no dispatch loop", []byte{0, opLocalGet, 0, opEnd}},
		{"a loop with no block after it", []byte{0, opBlock, void, opLoop, void, opLocalGet, 0, opBrTable, 0, 0, opEnd, opEnd, opI32Const, 1, opEnd}},
		{"two loops", []byte{0, opLoop, void, opLoop, void, opBlock, void, opLocalGet, 0, opBrTable, 0, 0, opEnd, opEnd, opEnd, opI32Const, 1, opEnd}},
		{"a test of PC_B against 0 that branches elsewhere than the table", []byte{0, opBlock, void, opLoop, void, opBlock, void, opBlock, void,
			opLocalGet, 0, i32Eqz, brIf, 1, opLocalGet, 0, opBrTable, 1, 0, 1, opEnd, opEnd, opEnd, opEnd, opI32Const, 1, opEnd}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			module := moduleOf(tc.body)
			got, stats, err := Thread(module)
			if err != nil {
				t.Fatal(err)
			}
			if &got[0] != &module[0] || stats.Threaded != 0 || stats.Dispatching != 0 || stats.Functions != 1 {
				t.Errorf("stats %+v; the module should come back as it is", stats)
			}
		})
	}
}

func TestThreadErrors(t *testing.T) {
	valid := moduleOf(goFunction(jump(2, 2), nil, nil))
	codeAt := len(moduleHead())
	tests := []struct {
		name   string
		module []byte
		want   string
	}{
		{"not WebAssembly", []byte("\x7fELF\x02\x01\x01"), "not a WebAssembly 1.0 binary"},
		{"a section longer than the module", append(append([]byte{}, magic...), 1, 9, 1), "section at offset 10: unexpected end of data"},
		{"an unknown opcode", bytes.Replace(valid, jump(2, 2), []byte{0xfd, 0, 0, 0, 0, 0}, 1), "code section: function body 0 at offset 31: offset 53: unknown opcode 0xfd"},
		{"no end", valid[:len(valid)-1], "section at offset"},
		{"a code section cut short", append(valid[:codeAt:codeAt], sectionCode, 3, 1, 9, 0), "code section: function body 0 at offset 31: unexpected end of data"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, _, err := Thread(tc.module)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
			if got != nil {
				t.Errorf("a module came back with the error")
			}
		})
	}
}

// FuzzThread holds Thread to never panicking, and to being idempotent on
// what it accepts.
func FuzzThread(f *testing.F) {
	f.Add(moduleOf(goFunction(concat(jump(2, 2), jump(1, 2)), jump(1, 1), nil)))
	f.Add(moduleOf([]byte{0, opLocalGet, 0, opEnd}))
	f.Fuzz(func(t *testing.T, module []byte) {
		got, _, err := Thread(module)
		if err != nil {
			return
		}
		again, stats, err := Thread(got)
		if err != nil || stats.Threaded != 0 || stats.Entries != 0 || !bytes.Equal(again, got) {
			t.Errorf("threading again: stats %+v, error %v", stats, err)
		}
	})
}
