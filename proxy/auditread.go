package proxy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
)

// MaxAuditLine is the longest audit line ScanAudit reads; the proxy's own
// lines are a few hundred bytes. Longer lines are skipped, not buffered.
const MaxAuditLine = 64 << 10

// ScanAudit reads an audit log (one JSON object per line, POLICY §5.1) as a
// stream and calls fn for each event that keep accepts (keep sees the raw
// line, so that a caller can skip most lines without decoding them; nil
// keeps every line). Lines that are not JSON objects, and lines longer than
// MaxAuditLine, are counted in skipped and otherwise ignored. Memory does
// not grow with the size of the log.
func ScanAudit(r io.Reader, keep func(line []byte) bool, fn func(ev *AuditEvent)) (read, skipped int, err error) {
	br := bufio.NewReaderSize(r, MaxAuditLine)
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// Too long: drop the rest of the line.
			skipped++
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = br.ReadSlice('\n')
			}
			if err == io.EOF {
				return read, skipped, nil
			}
			if err != nil {
				return read, skipped, err
			}
			continue
		}
		if len(bytes.TrimSpace(line)) > 0 {
			read++
			if keep == nil || keep(line) {
				var ev AuditEvent
				if jerr := json.Unmarshal(line, &ev); jerr != nil || ev.Name == "" {
					skipped++
				} else {
					fn(&ev)
				}
			}
		}
		if err == io.EOF {
			return read, skipped, nil
		}
		if err != nil {
			return read, skipped, err
		}
	}
}
