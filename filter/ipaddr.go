package filter

// canonicalIP reads s as an IP address, with the grammar of Go's
// net/netip.ParseAddr (dotted-decimal IPv4 without leading zeros; IPv6 with
// at most one "::", an optional trailing dotted IPv4 and an optional
// "%zone"), and writes it in netip's canonical form (RFC 5952: lower-case
// hex without leading zeros, the first longest run of two or more zero
// groups as "::"), an IPv4-mapped IPv6 address as the IPv4 address it maps:
// netip's ParseAddr(s).Unmap().String(). ok is false when s is not an IP
// address. It spares the module net/netip (and unique, which netip keeps
// zones in): about 150 KB of a module that needs one function of it;
// TestCanonicalIPMatchesNetip holds it to netip.
func canonicalIP(s string) (ip string, ok bool) {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '.':
			v4, ok := parseIPv4(s)
			if !ok {
				return "", false
			}
			return string(appendIPv4(nil, v4)), true
		case ':':
			return canonicalIPv6(s)
		case '%':
			return "", false
		}
	}
	return "", false
}

// parseIPv4 reads four decimal fields from 0 to 255, without leading zeros,
// separated by dots.
func parseIPv4(s string) (ip [4]byte, ok bool) {
	field, value, digits := 0, 0, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case '0' <= c && c <= '9':
			if digits == 1 && value == 0 {
				return ip, false
			}
			value = value*10 + int(c-'0')
			digits++
			if value > 255 {
				return ip, false
			}
		case c == '.':
			if digits == 0 || field == 3 {
				return ip, false
			}
			ip[field] = byte(value)
			field, value, digits = field+1, 0, 0
		default:
			return ip, false
		}
	}
	if field != 3 || digits == 0 {
		return ip, false
	}
	ip[3] = byte(value)
	return ip, true
}

// canonicalIPv6 is canonicalIP for a text with a colon before any dot.
func canonicalIPv6(s string) (string, bool) {
	zone := ""
	for i := 0; i < len(s); i++ {
		if s[i] == '%' {
			s, zone = s[:i], s[i+1:]
			if zone == "" {
				return "", false
			}
			break
		}
	}
	var groups [8]uint16
	n := 0         // groups read
	ellipsis := -1 // the group "::" stands at, once read
	if len(s) >= 2 && s[0] == ':' && s[1] == ':' {
		ellipsis, s = 0, s[2:]
	}
	for len(s) > 0 {
		if n == 8 {
			return "", false
		}
		digits, value := 0, 0
		for digits < len(s) {
			h, isHex := hexValue(s[digits])
			if !isHex {
				break
			}
			if digits == 4 {
				return "", false
			}
			value = value<<4 | h
			digits++
		}
		if digits == 0 {
			return "", false
		}
		if digits < len(s) && s[digits] == '.' {
			// A trailing IPv4 address, as the last two groups.
			if ellipsis < 0 && n != 6 || n > 6 {
				return "", false
			}
			v4, ok := parseIPv4(s)
			if !ok {
				return "", false
			}
			groups[n] = uint16(v4[0])<<8 | uint16(v4[1])
			groups[n+1] = uint16(v4[2])<<8 | uint16(v4[3])
			n += 2
			s = ""
			break
		}
		groups[n] = uint16(value)
		n++
		s = s[digits:]
		if len(s) == 0 {
			break
		}
		if s[0] != ':' || len(s) == 1 {
			return "", false
		}
		s = s[1:]
		if s[0] == ':' {
			if ellipsis >= 0 {
				return "", false
			}
			ellipsis, s = n, s[1:]
		}
	}
	switch {
	case n < 8 && ellipsis < 0, n == 8 && ellipsis >= 0:
		return "", false
	case n < 8:
		// "::" stands for the missing groups.
		missing := 8 - n
		copy(groups[ellipsis+missing:], groups[ellipsis:n])
		clear(groups[ellipsis : ellipsis+missing])
	}
	if groups[0]|groups[1]|groups[2]|groups[3]|groups[4] == 0 && groups[5] == 0xffff {
		v4 := [4]byte{byte(groups[6] >> 8), byte(groups[6]), byte(groups[7] >> 8), byte(groups[7])}
		return string(appendIPv4(nil, v4)), true
	}
	return string(appendIPv6(nil, groups, zone)), true
}

// hexValue is the value of the hex digit c.
func hexValue(c byte) (int, bool) {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0'), true
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10, true
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10, true
	}
	return 0, false
}

// appendIPv4 appends ip in dotted decimal.
func appendIPv4(b []byte, ip [4]byte) []byte {
	for i, v := range ip {
		if i > 0 {
			b = append(b, '.')
		}
		if v >= 100 {
			b = append(b, '0'+v/100)
		}
		if v >= 10 {
			b = append(b, '0'+v/10%10)
		}
		b = append(b, '0'+v%10)
	}
	return b
}

// appendIPv6 appends the groups in RFC 5952's form, then "%zone" if zone
// is not empty.
func appendIPv6(b []byte, groups [8]uint16, zone string) []byte {
	// The first longest run of two or more zero groups becomes "::".
	runStart, runLen := -1, 1
	for i := 0; i < 8; {
		j := i
		for j < 8 && groups[j] == 0 {
			j++
		}
		if j-i > runLen {
			runStart, runLen = i, j-i
		}
		i = j + 1
	}
	const hexDigits = "0123456789abcdef"
	for i := 0; i < 8; i++ {
		if i == runStart {
			b = append(b, ':', ':')
			i += runLen - 1
			continue
		}
		if i > 0 && i != runStart+runLen {
			b = append(b, ':')
		}
		// Hex without leading zeros.
		started := false
		for shift := 12; shift >= 0; shift -= 4 {
			d := groups[i] >> shift & 0xf
			if d != 0 || started || shift == 0 {
				b = append(b, hexDigits[d])
				started = true
			}
		}
	}
	if zone != "" {
		b = append(b, '%')
		b = append(b, zone...)
	}
	return b
}
