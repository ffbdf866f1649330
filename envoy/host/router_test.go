package host

import (
	"errors"
	"io"
	"testing"
	"time"
)

// TestFinishedRouterReleasesBodyWriter: once the upstream response is
// complete, a request body the stream will never finish delivering must
// not keep the upstream request's body writer waiting (it would leak a
// goroutine and the upstream connection per such request). A body already
// delivered in full is still read to its end.
func TestFinishedRouterReleasesBodyWriter(t *testing.T) {
	tests := []struct {
		name    string
		deliver func(*bodyPipe)
		wantErr bool
	}{
		{"body cut short", func(p *bodyPipe) { p.write([]byte("par"), false) }, true},
		{"nothing delivered", func(*bodyPipe) {}, true},
		{"body complete", func(p *bodyPipe) { p.write([]byte("all"), true) }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rt := &router{body: newBodyPipe()}
			tt.deliver(rt.body)
			read := make(chan error, 1)
			go func() {
				_, err := io.ReadAll(rt.body)
				read <- err
			}()
			rt.finish()
			select {
			case err := <-read:
				if (err != nil) != tt.wantErr {
					t.Fatalf("reading the body after finish: %v, want error %v", err, tt.wantErr)
				}
				if err != nil && errors.Is(err, io.EOF) {
					t.Fatalf("a cut-short body read as complete")
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the body reader still waits after the router finished")
			}
		})
	}
}
