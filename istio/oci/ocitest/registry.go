// Package ocitest runs a real OCI registry on loopback for tests: the
// docker-registry binary of Debian's docker-registry package (the CNCF
// distribution registry, the same software as the registry:2 image).
package ocitest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// RegistryBinary is the registry program StartRegistry runs.
const RegistryBinary = "docker-registry"

// InstallHint is how to get RegistryBinary on Debian and Ubuntu (.ci/run
// does this on CI machines).
const InstallHint = "apt-get update && apt-get install -y docker-registry"

// startTimeout bounds how long the registry may take to answer /v2/.
const startTimeout = 30 * time.Second

// StartRegistry starts a registry on a free 127.0.0.1 port with its own
// configuration and a temporary storage directory, waits until it serves
// the distribution API, and stops it when the test ends. It returns the
// registry's host:port. A missing binary fails the test with the command
// that installs it: a test that cannot run must not pass.
func StartRegistry(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath(RegistryBinary)
	if err != nil {
		t.Fatalf("%s is not installed (%v); install it with: %s", RegistryBinary, err, InstallHint)
	}
	dir := t.TempDir()
	addr, err := freeLoopbackAddr()
	if err != nil {
		t.Fatalf("finding a free port for the registry: %v", err)
	}
	configPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(configPath, []byte(registryConfig(filepath.Join(dir, "storage"), addr)), 0o600); err != nil {
		t.Fatalf("writing the registry configuration: %v", err)
	}
	var output syncBuffer
	cmd := exec.Command(bin, "serve", configPath)
	cmd.Stdout = &output
	cmd.Stderr = &output
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	if err := waitReady(addr, exited); err != nil {
		t.Fatalf("registry on %s did not start: %v\nregistry output:\n%s", addr, err, output.String())
	}
	return addr
}

// registryConfig is a minimal distribution configuration: filesystem
// storage in storageDir, plain HTTP on addr, no authentication, quiet logs.
func registryConfig(storageDir, addr string) string {
	return fmt.Sprintf(`version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
`, storageDir, addr)
}

// freeLoopbackAddr returns a 127.0.0.1 address whose port was free a
// moment ago.
func freeLoopbackAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		return "", err
	}
	return addr, nil
}

// waitReady polls GET /v2/ until the registry answers 200, the process
// exits, or startTimeout passes.
func waitReady(addr string, exited <-chan error) error {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		select {
		case err := <-exited:
			return fmt.Errorf("the registry exited: %v", err)
		case <-ctx.Done():
			return fmt.Errorf("no answer on /v2/ after %s (last error: %v)", startTimeout, last)
		case <-tick.C:
		}
		resp, err := client.Get("http://" + addr + "/v2/")
		if err != nil {
			last = err
			continue
		}
		_ = resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return nil
		}
		last = errors.New(resp.Status)
	}
}

// syncBuffer is a bytes.Buffer safe for the registry's two output streams.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
