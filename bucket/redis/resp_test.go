package redis

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/bucket"
	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/bucket/redis/redistest"
)

// respTransport sends RESP commands to a real Redis over one connection
// and hands back the raw reply, as Higress's proxy_redis_call does.
type respTransport struct {
	conn net.Conn
	rd   *bufio.Reader
}

func (r *respTransport) Post(body []byte, timeout time.Duration, done func(int, []byte, error)) error {
	_ = r.conn.SetDeadline(time.Now().Add(timeout))
	if _, err := r.conn.Write(body); err != nil {
		return err
	}
	var raw bytes.Buffer
	err := readRESP(r.rd, &raw)
	done(0, raw.Bytes(), err)
	return nil
}

// readRESP copies one RESP value from rd to out.
func readRESP(rd *bufio.Reader, out *bytes.Buffer) error {
	line, err := rd.ReadBytes('\n')
	if err != nil {
		return err
	}
	out.Write(line)
	if len(line) < 3 {
		return errors.New("short RESP line")
	}
	switch line[0] {
	case '$':
		n, _ := strconv.Atoi(string(line[1 : len(line)-2]))
		if n >= 0 {
			_, err = io.CopyN(out, rd, int64(n)+2)
		}
		return err
	case '*':
		n, _ := strconv.Atoi(string(line[1 : len(line)-2]))
		for range n {
			if err := readRESP(rd, out); err != nil {
				return err
			}
		}
	}
	return nil
}

// TestScriptOverRESP runs the limiter in ProtocolRESP against a real
// Redis: the capacity exactly, the script sent again after SCRIPT FLUSH,
// and Redis's error replies classified.
func TestScriptOverRESP(t *testing.T) {
	r := redistest.StartRedis(t)
	conn, err := net.Dial("tcp", r.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	tr := &respTransport{conn: conn, rd: bufio.NewReader(conn)}
	rec := &recorder{}
	l, err := NewLimiter(Options{Transport: tr, Protocol: ProtocolRESP, Namespace: "resp", KeyPrefix: "t",
		Timeout: 5 * time.Second, FailureMode: FailClosed, Clock: time.Now, Observer: rec})
	if err != nil {
		t.Fatal(err)
	}
	d := []bucket.Demand{demand(bucket.KindShared, 1, 3, time.Hour), demand(bucket.KindUserTool, 1, 10, time.Hour)}
	var got []bool
	for i := range 5 {
		if i == 2 {
			if _, err := r.Do("SCRIPT", "FLUSH"); err != nil {
				t.Fatal(err)
			}
		}
		got = append(got, mustTake(t, l, d).Allowed)
	}
	if fmt.Sprint(got) != "[true true true false false]" || rec.decided != 5 || len(rec.failed) != 0 {
		t.Errorf("admitted %v, observer %+v; want 3 of 5 decided by Redis without failure", got, rec)
	}
	// A key of the wrong type makes the script fail: a script error.
	if _, err := r.Do("DEL", l.keys.of(d[0].Bucket)); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Do("HSET", l.keys.of(d[0].Bucket), "f", "v"); err != nil {
		t.Fatal(err)
	}
	l.Take(time.Now(), d, bucket.DecisionFunc(func(_ bucket.Decision, err error) {
		if !errors.Is(err, bucket.ErrStoreUnavailable) {
			t.Errorf("wrong key type: %v, want ErrStoreUnavailable", err)
		}
	}))
	if fmt.Sprint(rec.failed) != fmt.Sprint([]ErrorKind{ErrorScript}) {
		t.Errorf("failures %v, want one script error", rec.failed)
	}
}

func TestRESPValues(t *testing.T) {
	tests := []struct {
		in   string
		want []int64
		err  error
	}{
		{"*4\r\n:1\r\n:0\r\n:5\r\n:0\r\n", []int64{1, 0, 5, 0}, nil},
		{"*0\r\n", []int64{}, nil},
		{"-NOSCRIPT No matching script.\r\n", nil, errNoScript},
		{"-ERR boom\r\n", nil, errScript},
		{"+OK\r\n", nil, errReply},
		{"*2\r\n:1\r\n", nil, errReply},
		{"*1\r\n$1\r\n1\r\n", nil, errReply},
		{"*1\r\n:1\r\n:2\r\n", nil, errReply},
		{"*99999999\r\n", nil, errReply},
		{"", nil, errReply},
	}
	for _, tt := range tests {
		got, err := respValues(nil, []byte(tt.in))
		if !errors.Is(err, tt.err) || tt.err == nil && fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("respValues(%q) = %v, %v; want %v, %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func FuzzRESPValues(f *testing.F) {
	for _, seed := range []string{"*4\r\n:1\r\n:0\r\n:5\r\n:0\r\n", "-ERR x\r\n", "*1\r\n", ":\r\n", "*-1\r\n"} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		_, _ = respValues(nil, body)
	})
}
