// Package redistest starts a real redis-server and a real webdis on free
// loopback ports for tests, and speaks RESP to the Redis. A missing binary
// fails the test with the apt-get command that installs it.
package redistest

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// InstallHint is the command that installs what this package runs.
const InstallHint = "apt-get install -y redis-server webdis"

// WebdisUser and WebdisPassword are the HTTP basic credentials of the
// webdis started by StartWebdis.
const (
	WebdisUser     = "mcprl"
	WebdisPassword = "test-secret"
)

// WebdisCommands are the commands the webdis started by StartWebdis
// allows with its credentials (as envoy/webdis.json does).
var WebdisCommands = []string{"EVALSHA", "EVAL"}

// Redis is a redis-server process.
type Redis struct {
	t    testing.TB
	Port int
	dir  string
	args []string
	mu   sync.Mutex
	cmd  *exec.Cmd
}

// binary returns the path of name or fails the test naming the package.
func binary(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found (%v): install it with `%s`", name, err, InstallHint)
	}
	return path
}

// FreePort returns a loopback TCP port nobody listens on now.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// StartRedis starts redis-server on a free loopback port, without
// persistence, with extra command-line arguments (e.g. "--cluster-enabled",
// "yes"); the test's cleanup stops it.
func StartRedis(t testing.TB, args ...string) *Redis {
	t.Helper()
	r := &Redis{t: t, Port: FreePort(t), dir: t.TempDir(), args: args}
	// Registered first: a Start that fails the test still stops the process.
	t.Cleanup(r.Stop)
	r.Start()
	return r
}

// Addr is host:port of the server.
func (r *Redis) Addr() string { return "127.0.0.1:" + strconv.Itoa(r.Port) }

// Start (re)starts the server on its port, empty, and waits until it
// answers PING.
func (r *Redis) Start() {
	r.t.Helper()
	path := binary(r.t, "redis-server")
	cmd := exec.Command(path, "--port", strconv.Itoa(r.Port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", r.dir, "--daemonize", "no",
		"--enable-debug-command", "local", "--logfile", filepath.Join(r.dir, "redis.log"),
		"--cluster-config-file", filepath.Join(r.dir, "nodes.conf"))
	cmd.Args = append(cmd.Args, r.args...)
	if err := cmd.Start(); err != nil {
		r.t.Fatalf("start redis-server: %v", err)
	}
	r.mu.Lock()
	r.cmd = cmd
	r.mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for {
		// An error reply (NOAUTH with --requirepass) also says it is up.
		var reply RedisError
		if _, err := r.Do("PING"); err == nil || errors.As(err, &reply) {
			return
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(r.dir, "redis.log"))
			r.t.Fatalf("redis-server on port %d did not answer PING; its log:\n%s", r.Port, log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop kills the server (SIGKILL) and waits for it; a no-op when stopped.
func (r *Redis) Stop() {
	r.mu.Lock()
	cmd := r.cmd
	r.cmd = nil
	r.mu.Unlock()
	stop(cmd)
}

// Pause stops the process (SIGSTOP): connections stay open, nothing is
// answered. Resume continues it.
func (r *Redis) Pause() { r.signal(syscall.SIGSTOP) }

// Resume continues a paused server (SIGCONT).
func (r *Redis) Resume() { r.signal(syscall.SIGCONT) }

func (r *Redis) signal(sig syscall.Signal) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd != nil {
		if err := r.cmd.Process.Signal(sig); err != nil {
			r.t.Errorf("signal redis-server: %v", err)
		}
	}
}

func stop(cmd *exec.Cmd) {
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGCONT)
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
}

// Do runs one command on a new connection and returns its reply: string,
// int64, []any, nil, or an error for a Redis error reply.
func (r *Redis) Do(args ...string) (any, error) {
	c, err := Dial(r.Addr())
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.Do(args...)
}

// Conn is one RESP connection.
type Conn struct {
	conn net.Conn
	rd   *bufio.Reader
}

// Dial connects to a Redis at addr.
func Dial(addr string) (*Conn, error) {
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return nil, err
	}
	return &Conn{conn: conn, rd: bufio.NewReader(conn)}, nil
}

// Close closes the connection.
func (c *Conn) Close() error { return c.conn.Close() }

// RedisError is an error reply.
type RedisError string

func (e RedisError) Error() string { return string(e) }

// Do sends one command and reads its reply (see Redis.Do).
func (c *Conn) Do(args ...string) (any, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	_ = c.conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(c.conn, b.String()); err != nil {
		return nil, err
	}
	return c.read()
}

func (c *Conn) read() (any, error) {
	line, err := c.rd.ReadString('\n')
	if err != nil {
		return nil, err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return nil, errors.New("redistest: empty RESP line")
	}
	switch line[0] {
	case '+':
		return line[1:], nil
	case '-':
		return nil, RedisError(line[1:])
	case ':':
		return strconv.ParseInt(line[1:], 10, 64)
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return nil, err
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(c.rd, buf); err != nil {
			return nil, err
		}
		return string(buf[:n]), nil
	case '*':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return nil, err
		}
		out := make([]any, n)
		for i := range out {
			if out[i], err = c.read(); err != nil {
				var re RedisError
				if !errors.As(err, &re) {
					return nil, err
				}
				out[i] = err
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("redistest: unexpected RESP line %q", line)
}

// Webdis is a webdis process in front of a Redis.
type Webdis struct {
	t      testing.TB
	Port   int
	dir    string
	config string
	mu     sync.Mutex
	cmd    *exec.Cmd
}

// StartWebdis starts webdis on a free loopback port in front of the Redis
// at redisPort, allowing WebdisCommands to WebdisUser:WebdisPassword and
// nothing to anyone else; the test's cleanup stops it.
func StartWebdis(t testing.TB, redisPort int) *Webdis {
	t.Helper()
	w := &Webdis{t: t, Port: FreePort(t), dir: t.TempDir()}
	config := map[string]any{
		"redis_host": "127.0.0.1", "redis_port": redisPort, "redis_auth": nil,
		"http_host": "127.0.0.1", "http_port": w.Port, "threads": 2,
		"pool_size": 8, "daemonize": false, "database": 0,
		"acl": []any{
			map[string]any{"disabled": []string{"*"}},
			map[string]any{"http_basic_auth": WebdisUser + ":" + WebdisPassword, "enabled": WebdisCommands},
		},
		"verbosity": 3, "logfile": filepath.Join(w.dir, "webdis.log"),
	}
	data, err := json.MarshalIndent(config, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	w.config = filepath.Join(w.dir, "webdis.json")
	if err := os.WriteFile(w.config, data, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	w.Start()
	return w
}

// Addr is host:port of webdis.
func (w *Webdis) Addr() string { return "127.0.0.1:" + strconv.Itoa(w.Port) }

// Start (re)starts webdis and waits until it answers HTTP.
func (w *Webdis) Start() {
	w.t.Helper()
	path := binary(w.t, "webdis")
	cmd := exec.Command(path, w.config)
	cmd.Dir = w.dir
	if err := cmd.Start(); err != nil {
		w.t.Fatalf("start webdis: %v", err)
	}
	w.mu.Lock()
	w.cmd = cmd
	w.mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	client := &http.Client{Timeout: time.Second}
	for {
		resp, err := client.Get("http://" + w.Addr() + "/")
		if err == nil {
			resp.Body.Close()
			return
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(w.dir, "webdis.log"))
			w.t.Fatalf("webdis on port %d did not answer: %v; its log:\n%s", w.Port, err, log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop kills webdis and waits for it; a no-op when stopped.
func (w *Webdis) Stop() {
	w.mu.Lock()
	cmd := w.cmd
	w.cmd = nil
	w.mu.Unlock()
	stop(cmd)
}

// Post sends a webdis command body with the credentials and returns the
// status and body.
func (w *Webdis) Post(body string) (int, []byte, error) {
	req, err := http.NewRequest(http.MethodPost, "http://"+w.Addr()+"/", strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.SetBasicAuth(WebdisUser, WebdisPassword)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return resp.StatusCode, data, err
}
