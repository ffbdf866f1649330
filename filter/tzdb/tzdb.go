// Package tzdb loads IANA time zones from a copy of Go's time zone
// database embedded in the program, without touching the file system.
//
// time.LoadLocation reads /usr/share/zoneinfo first: built for wasip1 it
// imports the WASI function path_open, which Envoy does not provide, so a
// module that links it fails to load. This package hands the zone data to
// time.LoadLocationFromTZData instead, natively and in the module alike,
// so tests and production read the same zones.
//
// zoneinfo.zip.gz is $GOROOT/lib/time/zoneinfo.zip of the Go release the
// project builds with (a stored, uncompressed zip of the tz database,
// which is in the public domain), gzipped: 95 KB in the module instead of
// 400 KB. It is inflated once, when a configuration first names a zone;
// TestDatabaseIsGos compares it with the installed Go's copy (refresh it
// with `gzip -9 -n -c $(go env GOROOT)/lib/time/zoneinfo.zip`).
package tzdb

import (
	"bytes"
	"compress/flate"
	_ "embed"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

//go:embed zoneinfo.zip.gz
var zipGzipped []byte

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

// lookup finds a zone's data in the zip.
func lookup(name string) (string, bool, error) {
	indexOnce.Do(func() {
		var zipData string
		if zipData, indexErr = inflate(zipGzipped); indexErr == nil {
			index, indexErr = readZip(zipData)
		}
	})
	if indexErr != nil {
		return "", false, indexErr
	}
	data, ok := index[name]
	return data, ok, nil
}

// Zip record signatures and sizes (PKWARE APPNOTE, section 4.3).
const (
	endSignature     = 0x06054b50
	endSize          = 22
	centralSignature = 0x02014b50
	centralSize      = 46
	localSignature   = 0x04034b50
	localSize        = 30
)

// readZip indexes the entries of a zip whose entries are stored
// (uncompressed), as Go's zoneinfo.zip is, without a zip comment.
func readZip(z string) (map[string]string, error) {
	bad := func(what string) error { return fmt.Errorf("tzdb: corrupt zoneinfo.zip: %s", what) }
	u16 := func(off int) int { return int(binary.LittleEndian.Uint16([]byte(z[off : off+2]))) }
	u32 := func(off int) int { return int(binary.LittleEndian.Uint32([]byte(z[off : off+4]))) }
	if len(z) < endSize || u32(len(z)-endSize) != endSignature {
		return nil, bad("no end of central directory")
	}
	end := len(z) - endSize
	n, dir := u16(end+10), u32(end+16)
	out := make(map[string]string, n)
	for range n {
		if dir+centralSize > len(z) || u32(dir) != centralSignature {
			return nil, bad("central directory entry")
		}
		method, size := u16(dir+10), u32(dir+24)
		nameLen, extraLen, commentLen := u16(dir+28), u16(dir+30), u16(dir+32)
		local := u32(dir + 42)
		if dir+centralSize+nameLen > len(z) {
			return nil, bad("entry name")
		}
		name := z[dir+centralSize : dir+centralSize+nameLen]
		dir += centralSize + nameLen + extraLen + commentLen
		if method != 0 {
			return nil, bad("compressed entry " + name)
		}
		if local+localSize > len(z) || u32(local) != localSignature {
			return nil, bad("local header of " + name)
		}
		start := local + localSize + u16(local+26) + u16(local+28)
		if start+size > len(z) {
			return nil, bad("data of " + name)
		}
		out[name] = z[start : start+size]
	}
	return out, nil
}

// inflate returns the content of a gzip file as `gzip -n` writes it
// (RFC 1952: a 10-byte header without optional fields, a deflate stream,
// then the CRC-32 and the length of the content). It reads the deflate
// stream with compress/flate and checks the length; leaving compress/gzip
// (and hash/crc32) out of the module saves 34 KB. TestDatabaseIsGos checks
// the whole content against Go's own zoneinfo.zip.
func inflate(gz []byte) (string, error) {
	const headerSize, trailerSize = 10, 8
	if len(gz) < headerSize+trailerSize || gz[0] != 0x1f || gz[1] != 0x8b || gz[2] != 8 || gz[3] != 0 {
		return "", errors.New("tzdb: zoneinfo.zip.gz: not a gzip file without optional header fields (gzip -n)")
	}
	r := flate.NewReader(bytes.NewReader(gz[headerSize : len(gz)-trailerSize]))
	var out strings.Builder
	if _, err := io.Copy(&out, r); err != nil {
		return "", fmt.Errorf("tzdb: zoneinfo.zip.gz: %w", err)
	}
	if size := binary.LittleEndian.Uint32(gz[len(gz)-4:]); uint32(out.Len()) != size {
		return "", fmt.Errorf("tzdb: zoneinfo.zip.gz: %d bytes inflated, the gzip trailer says %d", out.Len(), size)
	}
	return out.String(), nil
}
