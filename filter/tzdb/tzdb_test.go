package tzdb

import (
	"bytes"
	"compress/gzip"
	"errors"
	"os"
	"path/filepath"
	"runtime"
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

// TestDatabaseIsGos checks that the embedded database is the one of the Go
// release in use, so that it is refreshed with Go.
func TestDatabaseIsGos(t *testing.T) {
	installed, err := os.ReadFile(filepath.Join(runtime.GOROOT(), "lib", "time", "zoneinfo.zip"))
	if err != nil {
		t.Fatalf("read Go's zoneinfo.zip: %v", err)
	}
	embedded, err := inflate(zipGzipped)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(installed, []byte(embedded)) {
		t.Errorf("filter/tzdb/zoneinfo.zip.gz differs from %s: gzip -9 -n it over", filepath.Join(runtime.GOROOT(), "lib", "time", "zoneinfo.zip"))
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
		{"cut short", good[:len(good)/2], "zoneinfo.zip.gz"},
		{"another length in the trailer", wrongSize, "the gzip trailer says"},
	} {
		if _, err := inflate(c.gz); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one that says %q", c.name, err, c.want)
		}
	}
}
