package tzdb

import (
	"archive/zip"
	"bytes"
	"compress/gzip"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"
)

func TestLoad(t *testing.T) {
	tests := []struct {
		name   string
		at     time.Time
		offset int // seconds east of UTC at that instant
	}{
		{"UTC", time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC), 0},
		{"Europe/Berlin", time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC), 2 * 3600},
		{"Europe/Berlin", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), 3600},
		{"America/New_York", time.Date(2026, 3, 8, 6, 59, 0, 0, time.UTC), -5 * 3600},
		{"America/New_York", time.Date(2026, 3, 8, 7, 0, 0, 0, time.UTC), -4 * 3600},
		{"Asia/Kolkata", time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC), 5*3600 + 1800},
		{"Australia/Lord_Howe", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), 11 * 3600},
	}
	for _, tt := range tests {
		loc, err := Load(tt.name)
		if err != nil {
			t.Fatalf("Load(%q): %v", tt.name, err)
		}
		if _, offset := tt.at.In(loc).Zone(); offset != tt.offset {
			t.Errorf("%s at %v: offset %d, want %d", tt.name, tt.at, offset, tt.offset)
		}
	}
	for _, name := range []string{"", "Local", "Mars/Olympus_Mons", "europe/berlin", "../etc/passwd"} {
		if _, err := Load(name); !errors.Is(err, ErrUnknownZone) {
			t.Errorf("Load(%q) = %v, want ErrUnknownZone", name, err)
		}
	}
}

var update = flag.Bool("update", false, "rewrite zoneinfo.gz from the installed Go's lib/time/zoneinfo.zip")

// TestDatabaseIsGos checks that the embedded database holds exactly the
// zones of the Go release in use, so that it is refreshed with Go; with
// -update it rewrites zoneinfo.gz from them.
func TestDatabaseIsGos(t *testing.T) {
	zipPath := filepath.Join(runtime.GOROOT(), "lib", "time", "zoneinfo.zip")
	zones := readGoZones(t, zipPath)
	want := buildDatabase(zones)
	if *update {
		var b bytes.Buffer
		w, err := gzip.NewWriterLevel(&b, gzip.BestCompression)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(want)); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile("zoneinfo.gz", b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote zoneinfo.gz: %d zones, %d bytes", len(zones), b.Len())
		return
	}
	embedded, err := inflate(database)
	if err != nil {
		t.Fatal(err)
	}
	if embedded != want {
		t.Fatalf("filter/tzdb/zoneinfo.gz is not the database of %s: go test ./filter/tzdb -run TestDatabaseIsGos -update", zipPath)
	}
	index, err := readDatabase(embedded)
	if err != nil {
		t.Fatal(err)
	}
	if len(index) != len(zones) {
		t.Errorf("the database has %d zones, %s %d", len(index), zipPath, len(zones))
	}
	for name, data := range zones {
		if index[name] != data {
			t.Errorf("zone %s differs from %s", name, zipPath)
		}
	}
}

// readGoZones reads the zone files of Go's zoneinfo.zip.
func readGoZones(t *testing.T, path string) map[string]string {
	t.Helper()
	r, err := zip.OpenReader(path)
	if err != nil {
		t.Fatalf("read Go's zoneinfo.zip: %v", err)
	}
	defer r.Close()
	zones := map[string]string{}
	for _, f := range r.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		zones[f.Name] = string(data)
	}
	return zones
}

// buildDatabase writes zones in readDatabase's form: the index sorted by
// name, then each distinct zone file once, in the order of the index.
func buildDatabase(zones map[string]string) string {
	names := make([]string, 0, len(zones))
	for name := range zones {
		names = append(names, name)
	}
	sort.Strings(names)
	var index, files strings.Builder
	offsets := map[string]int{}
	for i, name := range names {
		data := zones[name]
		offset, ok := offsets[data]
		if !ok {
			offset = files.Len()
			offsets[data] = offset
			files.WriteString(data)
		}
		if i > 0 {
			index.WriteString("\n")
		}
		fmt.Fprintf(&index, "%s %d %d", name, offset, len(data))
	}
	return index.String() + "\n\n" + files.String()
}

// TestReadDatabase checks the index reader on a small database and its
// refusals of a broken one.
func TestReadDatabase(t *testing.T) {
	db := buildDatabase(map[string]string{"A/B": "zone1", "A/C": "zone1", "D": "z2", "E": ""})
	index, err := readDatabase(db)
	if err != nil {
		t.Fatal(err)
	}
	if len(index) != 4 || index["A/B"] != "zone1" || index["A/C"] != "zone1" || index["D"] != "z2" || index["E"] != "" {
		t.Errorf("readDatabase(%q) = %q", db, index)
	}
	for _, bad := range []string{
		"", "A 0 1", "A 0 1\n", "A 0\n\nx", "A 0 1 2\n\nx", "A 0 2\n\nx", "A 1 1\n\nx", "A -1 1\n\nx", "A 0 -1\n\nx",
		"A x 1\n\nx", "A 0 1\nB 2 0\n\nx",
	} {
		if index, err := readDatabase(bad); err == nil || !strings.Contains(err.Error(), "corrupt zoneinfo.gz") {
			t.Errorf("readDatabase(%q) = %q, %v; want a corrupt database", bad, index, err)
		}
	}
}

// TestInflate checks the gzip reader on what `gzip -n` writes and its
// refusals of anything else.
func TestInflate(t *testing.T) {
	gzipped := func(content string, name string) []byte {
		var b bytes.Buffer
		w := gzip.NewWriter(&b)
		w.Name = name
		if _, err := w.Write([]byte(content)); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	content := strings.Repeat("zoneinfo ", 1000)
	if got, err := inflate(gzipped(content, "")); err != nil || got != content {
		t.Fatalf("inflate: %d bytes, %v; want the %d bytes written", len(got), err, len(content))
	}
	good := gzipped(content, "")
	wrongSize := append([]byte(nil), good...)
	wrongSize[len(wrongSize)-4]++
	for _, c := range []struct {
		name string
		gz   []byte
		want string
	}{
		{"empty", nil, "not a gzip file"},
		{"not gzip", []byte("PK\x03\x04 not gzip at all"), "not a gzip file"},
		{"a file name in the header", gzipped(content, "zoneinfo.zip"), "not a gzip file without optional header fields"},
		{"cut short", good[:len(good)/2], "zoneinfo.gz"},
		{"another length in the trailer", wrongSize, "the gzip trailer says"},
	} {
		if _, err := inflate(c.gz); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one that says %q", c.name, err, c.want)
		}
	}
}
