// Package tzdb loads IANA time zones from a copy of Go's time zone
// database embedded in the program, without touching the file system.
//
// time.LoadLocation reads /usr/share/zoneinfo first: built for wasip1 it
// imports the WASI function path_open, which Envoy does not provide, so a
// module that links it fails to load. This package hands the zone data to
// time.LoadLocationFromTZData instead, natively and in the module alike,
// so tests and production read the same zones.
//
// zoneinfo.gz holds the zones of $GOROOT/lib/time/zoneinfo.zip of the Go
// release the project builds with (the tz database, which is in the public
// domain), byte for byte, in a smaller form than the zip: each distinct
// zone file once (the zip holds an alias as a second copy of its zone: 598
// names, 436 distinct files), gzipped: 60 KB in the module instead of
// 95 KB for the gzipped zip and 408 KB for the zip. It is inflated once,
// when a configuration first names a zone. TestDatabaseIsGos compares it
// with the installed Go's zip and rewrites it when run with -update
// (`go test ./filter/tzdb -run TestDatabaseIsGos -update`).
package tzdb

import (
	"bytes"
	"compress/flate"
	_ "embed"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"
)

//go:embed zoneinfo.gz
var database []byte

// ErrUnknownZone reports a name the database does not hold.
var ErrUnknownZone = errors.New("unknown time zone")

// Load returns the time zone called name ("UTC", "Europe/Berlin"). "" and
// "UTC" are time.UTC; "Local" is refused (the machine's zone is not the
// operator's).
func Load(name string) (*time.Location, error) {
	switch name {
	case "UTC":
		return time.UTC, nil
	case "", "Local":
		return nil, fmt.Errorf("%w: %q", ErrUnknownZone, name)
	}
	data, ok, err := lookup(name)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownZone, name)
	}
	loc, err := time.LoadLocationFromTZData(name, []byte(data))
	if err != nil {
		return nil, fmt.Errorf("time zone %q: %w", name, err)
	}
	return loc, nil
}

var (
	indexOnce sync.Once
	index     map[string]string
	indexErr  error
)

// lookup finds a zone's data in the database.
func lookup(name string) (string, bool, error) {
	indexOnce.Do(func() {
		var text string
		if text, indexErr = inflate(database); indexErr == nil {
			index, indexErr = readDatabase(text)
		}
	})
	if indexErr != nil {
		return "", false, indexErr
	}
	data, ok := index[name]
	return data, ok, nil
}

// readDatabase indexes the zones of an inflated database: one line per
// zone name, "<name> <offset> <length>\n", then an empty line, then the
// zone files, whose offsets the lines count from the end of the empty line
// (several names may share one file).
func readDatabase(text string) (map[string]string, error) {
	bad := func(what string) error { return fmt.Errorf("tzdb: corrupt zoneinfo.gz: %s", what) }
	header, files, ok := strings.Cut(text, "\n\n")
	if !ok {
		return nil, bad("no end of the index")
	}
	out := make(map[string]string, strings.Count(header, "\n")+1)
	for _, line := range strings.Split(header, "\n") {
		fields := strings.Split(line, " ")
		if len(fields) != 3 {
			return nil, bad("index line " + strconv.Quote(line))
		}
		offset, err1 := strconv.Atoi(fields[1])
		size, err2 := strconv.Atoi(fields[2])
		if err1 != nil || err2 != nil || offset < 0 || size < 0 || offset > len(files) || size > len(files)-offset {
			return nil, bad("index line " + strconv.Quote(line))
		}
		out[fields[0]] = files[offset : offset+size]
	}
	return out, nil
}

// inflate returns the content of a gzip file without a file name or other
// optional header fields, as compress/gzip writes it by default and
// `gzip -n` does (RFC 1952: a 10-byte header, a deflate stream, then the
// CRC-32 and the length of the content). It reads the deflate stream with
// compress/flate and checks the length; leaving compress/gzip (and
// hash/crc32) out of the module saves 34 KB. TestDatabaseIsGos checks the
// whole content against Go's own zoneinfo.zip.
func inflate(gz []byte) (string, error) {
	const headerSize, trailerSize = 10, 8
	if len(gz) < headerSize+trailerSize || gz[0] != 0x1f || gz[1] != 0x8b || gz[2] != 8 || gz[3] != 0 {
		return "", errors.New("tzdb: zoneinfo.gz: not a gzip file without optional header fields (gzip -n)")
	}
	r := flate.NewReader(bytes.NewReader(gz[headerSize : len(gz)-trailerSize]))
	var out strings.Builder
	if _, err := io.Copy(&out, r); err != nil {
		return "", fmt.Errorf("tzdb: zoneinfo.gz: %w", err)
	}
	if size := binary.LittleEndian.Uint32(gz[len(gz)-4:]); uint32(out.Len()) != size {
		return "", fmt.Errorf("tzdb: zoneinfo.gz: %d bytes inflated, the gzip trailer says %d", out.Len(), size)
	}
	return out.String(), nil
}
