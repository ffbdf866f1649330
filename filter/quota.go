package filter

import (
	"fmt"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/bucket"
	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/filter/config"
)

// Calendar quotas (quota, perUserQuota): each limited call counts one
// against every quota that applies to it, beside its buckets' tokens, all
// or nothing (see bucket/quota.go). The time zones come from the Go time
// zone database embedded in the module (main.go imports time/tzdata).

// quotaOf converts a configured quota; nil stays nil.
func quotaOf(q *config.Quota) (*bucket.Quota, error) {
	if q == nil {
		return nil, nil
	}
	loc, err := q.Location()
	if err != nil {
		return nil, fmt.Errorf("quota time zone %q: %w", q.TimeZone, err)
	}
	period := bucket.PeriodDay
	switch q.Period {
	case config.PeriodWeek:
		period = bucket.PeriodWeek
	case config.PeriodMonth:
		period = bucket.PeriodMonth
	}
	return &bucket.Quota{MaxCalls: q.MaxCalls, Period: period, Location: loc}, nil
}

// resolveQuotas converts every configured quota.
func (s *settings) resolveQuotas(cfg *config.Config) error {
	var err error
	if s.quota, err = quotaOf(cfg.Quota); err != nil {
		return err
	}
	if s.perUserQuota, err = quotaOf(cfg.PerUserQuota); err != nil {
		return err
	}
	for _, l := range []struct {
		entries []config.Named
		limits  map[string]*toolLimits
	}{{cfg.Tools, s.tools}, {cfg.Methods, s.methods}, {cfg.Prompts, s.prompts}, {cfg.Resources, s.resources}} {
		for _, entry := range l.entries {
			limits := l.limits[entry.Name]
			if limits.quota, err = quotaOf(entry.Quota); err != nil {
				return err
			}
			if limits.perUserQuota, err = quotaOf(entry.PerUserQuota); err != nil {
				return err
			}
			limits.concurrency = entry.Concurrency
		}
	}
	return nil
}

// addQuotaDemands appends one call against each quota: the quota of kind
// (with name for the named kinds) and, when user is set, the per-user
// quota of userKind. Demands for the same quota are merged.
func addQuotaDemands(list []bucket.Demand, quota, perUserQuota *bucket.Quota, kind, userKind bucket.Kind, name, user string) []bucket.Demand {
	add := func(b bucket.Bucket, q *bucket.Quota) {
		for i := range list {
			if list[i].Quota != nil && *list[i].Quota == *q && list[i].Bucket == b {
				list[i].Tokens++
				return
			}
		}
		list = append(list, bucket.Demand{Bucket: b, Tokens: 1, Quota: q})
	}
	if quota != nil {
		add(bucket.Bucket{Kind: kind, Tool: name}, quota)
	}
	if user != "" && perUserQuota != nil {
		add(bucket.Bucket{Kind: userKind, Tool: name, User: user}, perUserQuota)
	}
	return list
}
