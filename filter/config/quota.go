package config

import (
	"time"

	"github.com/tidwall/gjson"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/filter/tzdb"
)

// quotaMembers are the members of a calendar quota object.
var quotaMembers = []fieldSpec{
	{name: "maxCalls", typ: "integer", required: true},
	{name: "period", typ: "string", required: true},
	{name: "timeZone", typ: "string"},
}

// parseQuota reads a quota object.
func parseQuota(path string, v gjson.Result) (*Quota, *Error) {
	if !v.IsObject() {
		return nil, errorf(path, `must be an object such as {"maxCalls": 10000, "period": "day", "timeZone": "UTC"}, got %s`, shown(v))
	}
	q := &Quota{TimeZone: DefaultTimeZone}
	err := eachMember(v, path, quotaMembers, func(name, path string, v gjson.Result) *Error {
		var err *Error
		switch name {
		case "maxCalls":
			var n int
			n, err = intInRange(path, v, 1, MaxMaxTokens, "")
			q.MaxCalls = int64(n)
		case "period":
			q.Period, err = oneOf(path, v, PeriodDay, PeriodWeek, PeriodMonth)
		case "timeZone":
			q.TimeZone, err = parseTimeZone(path, v)
		default:
			err = errorf(path, "known but not handled (a bug)")
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return q, nil
}

// parseTimeZone reads an IANA time zone name the embedded time zone
// database (package tzdb) knows ("Local", the machine's zone, is refused:
// Envoy's is not the operator's).
func parseTimeZone(path string, v gjson.Result) (string, *Error) {
	name, err := stringValue(path, v, `an IANA time zone name such as "UTC" or "Europe/Berlin"`)
	if err != nil {
		return "", err
	}
	if name == "" || name == "Local" {
		return "", errorf(path, `must be an IANA time zone name such as "UTC" or "Europe/Berlin", got %s`, shown(v))
	}
	if _, loadErr := tzdb.Load(name); loadErr != nil {
		return "", errorf(path, `must be an IANA time zone name such as "UTC" or "Europe/Berlin", got %s (unknown time zone)`, shown(v))
	}
	return name, nil
}

// Location returns the quota's time zone. The parser checked the name, so
// it only fails for a Quota built by hand.
func (q *Quota) Location() (*time.Location, error) {
	return tzdb.Load(q.TimeZone)
}
