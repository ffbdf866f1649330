package ocitest_test

import (
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"testing"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/istio/oci/ocitest"
)

// fatalRecorder is a testing.TB whose Fatalf records the message and ends
// the goroutine, as the real one does.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (r *fatalRecorder) Helper() {}

func (r *fatalRecorder) Fatalf(format string, args ...any) {
	r.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestStartRegistryFailsWithTheInstallCommandWhenMissing(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	rec := &fatalRecorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		ocitest.StartRegistry(rec)
	}()
	<-done
	if !strings.Contains(rec.msg, ocitest.InstallHint) {
		t.Fatalf("failure message %q does not give the install command %q", rec.msg, ocitest.InstallHint)
	}
}

func TestStartRegistryServesTheDistributionAPI(t *testing.T) {
	addr := ocitest.StartRegistry(t)
	if !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Errorf("registry address %q is not on loopback", addr)
	}
	resp, err := http.Get("http://" + addr + "/v2/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if got := resp.Header.Get("Docker-Distribution-Api-Version"); got != "registry/2.0" {
		t.Errorf("Docker-Distribution-Api-Version = %q, want registry/2.0", got)
	}
}
