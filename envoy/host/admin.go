package host

import (
	"net/http"
)

// adminHandler serves the admin endpoints the local host emulates:
// /stats (plain "name: value"), /stats/prometheus (Prometheus text, as
// Envoy's source/server/admin/prometheus_stats.cc names custom Wasm
// metrics) and /ready ("LIVE" once started).
func (h *hostImpl) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/stats/prometheus", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		_ = h.stats.WritePrometheus(w)
	})
	mux.HandleFunc("/stats", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("format") == "prometheus" {
			w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
			_ = h.stats.WritePrometheus(w)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
		_ = h.stats.WriteText(w)
	})
	mux.HandleFunc("/ready", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
		_, _ = w.Write([]byte("LIVE\n"))
	})
	return mux
}
