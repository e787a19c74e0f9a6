#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Interoperability of shm/hdr with HdrHistogram's own Java implementation (Debian's
# libhdrhistogram-java), both ways:
#   1. a C driver records deterministic data sets (several shapes and parameters) and writes an
#      interval log (.hlog), each histogram's uncompressed V2 bytes, its percentile text at three
#      unit ratios and its summary numbers;
#   2. Java reads that log with HistogramLogReader, records the same values itself, and checks that
#      each decoded histogram equals its own, that its encodeIntoByteBuffer() bytes equal ours, that
#      outputPercentileDistribution() prints byte for byte what we printed, and that its
#      getValueAtPercentile/mean/stddev/min/max/total agree; then it writes its own log with
#      HistogramLogWriter;
#   3. the C driver reads Java's log with dd_hdr_log_read_line() and checks every interval against
#      its own recording, and compares Java's interval lines with ours;
#   4. HdrHistogram's HistogramLogProcessor runs over our log.
# Exit 77 (skip, loudly) when Java or the jar is missing.
#
# usage: tests/shm/hdr_interop.sh      (from anywhere; HDRHISTOGRAM_JAR overrides the jar path)
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
jar=${HDRHISTOGRAM_JAR:-/usr/share/java/hdrhistogram.jar}

skip() {
	echo "SKIP: hdr_interop: $*" >&2
	exit 77
}
command -v java >/dev/null || skip "no java (apt-get install openjdk-17-jdk-headless)"
command -v javac >/dev/null || skip "no javac (apt-get install openjdk-17-jdk-headless)"
[ -r "$jar" ] || skip "HdrHistogram jar not found at $jar (apt-get install libhdrhistogram-java)"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cat >"$work/gen.c" <<'EOF'
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shm/hdr.h"

#define SIXTY_S 60000000000ull

static uint64_t state;

static uint64_t rnd(void)
{
	uint64_t z = (state += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static double urnd(void)
{
	return (double)(rnd() >> 11) * 0x1.0p-53;
}

struct set {
	const char *name;
	struct dd_hdr_params p;
	unsigned shape;
	unsigned n;
};

static const struct set sets[] = {
	{ "uniform", { 1, SIXTY_S, 3 }, 0, 20000 },
	{ "loguniform", { 1, SIXTY_S, 3 }, 1, 20000 },
	{ "constant", { 1, SIXTY_S, 3 }, 2, 1000 },
	{ "bimodal", { 1, SIXTY_S, 3 }, 3, 20000 },
	{ "empty", { 1, SIXTY_S, 3 }, 4, 0 },
	{ "zeros", { 1, SIXTY_S, 3 }, 5, 100 },
	{ "hugecounts", { 1, SIXTY_S, 3 }, 6, 3 },
	{ "us_2digits", { 1000, 3600000000000ull, 2 }, 1, 5000 },
	{ "ns_5digits", { 1, 10000000000ull, 5 }, 1, 5000 },
	{ "ns_1digit", { 1, 1000000000ull, 1 }, 0, 5000 },
	{ "ties", { 1, SIXTY_S, 3 }, 7, 2000 },
};
#define NSETS (sizeof(sets) / sizeof(sets[0]))

/* Fills h; when vf is set, also writes "value count" lines for Java to record the same. */
static void fill(const struct set *s, struct dd_hdr *h, FILE *vf)
{
	state = 1000 + (uint64_t)(s - sets);
	for (unsigned i = 0; i < s->n; i++) {
		uint64_t v, n = 1;
		switch (s->shape) {
		case 0: v = 1 + rnd() % 1000000; break;
		case 1: v = (uint64_t)exp(urnd() * log((double)s->p.highest)); break;
		case 2: v = 12345; break;
		case 3: v = rnd() % 10 < 7 ? 4000 + rnd() % 2001 : 1500000 + rnd() % 1000001; break;
		case 5: v = i % 3 == 0 ? 0 : rnd() % 5000; break;
		case 6: v = 1000 + i * 777777; n = 1ull << (40 + i); break;
		default: v = 1000 + 1000 * (rnd() % 1000) + 500; break; /* x.5 us: ties at ratio 1000 */
		}
		dd_hdr_record_n(h, v, n);
		if (vf)
			fprintf(vf, "%llu %llu\n", (unsigned long long)v, (unsigned long long)n);
	}
}

static FILE *open_in(const char *dir, const char *name, const char *mode)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, mode);
	if (f == NULL) {
		perror(path);
		exit(2);
	}
	return f;
}

static const double ratios[] = { 1.0, 1000.0, 1e6 };
static const double pcts[] = { 0.0, 0.1, 1, 10, 25, 50, 75, 90, 99, 99.9, 99.99, 99.999, 100 };

static int write_all(const char *dir)
{
	FILE *log = open_in(dir, "ours.hlog", "w");
	dd_hdr_log_header(log, 1700000000.25);
	for (size_t k = 0; k < NSETS; k++) {
		const struct set *s = &sets[k];
		struct dd_hdr *h;
		char name[256];
		if (dd_hdr_create(&s->p, &h) != 0)
			return 2;
		snprintf(name, sizeof(name), "values_%s.txt", s->name);
		FILE *vf = open_in(dir, name, "w");
		fprintf(vf, "%llu %llu %u\n", (unsigned long long)s->p.lowest,
			(unsigned long long)s->p.highest, s->p.sigfigs);
		fill(s, h, vf);
		fclose(vf);

		if (dd_hdr_log_interval(log, s->name, 10.0 * (double)k, 10.0, h, 1e6) != 0)
			return 2;
		uint8_t *enc;
		size_t len;
		if (dd_hdr_encode_v2(h, &enc, &len) != 0)
			return 2;
		snprintf(name, sizeof(name), "plain_%s.bin", s->name);
		FILE *bf = open_in(dir, name, "wb");
		fwrite(enc, 1, len, bf);
		fclose(bf);
		free(enc);

		for (size_t r = 0; r < 3; r++) {
			snprintf(name, sizeof(name), "pct_%s_%g.txt", s->name, ratios[r]);
			FILE *pf = open_in(dir, name, "w");
			dd_hdr_percentiles_print(h, pf, r == 2 ? 1 : 5, ratios[r]);
			fclose(pf);
		}
		/* what HistogramLogProcessor prints by default: 5 ticks, in ms */
		snprintf(name, sizeof(name), "pct_%s_proc.txt", s->name);
		FILE *pf = open_in(dir, name, "w");
		dd_hdr_percentiles_print(h, pf, 5, 1e6);
		fclose(pf);
		snprintf(name, sizeof(name), "summary_%s.txt", s->name);
		FILE *sf = open_in(dir, name, "w");
		fprintf(sf, "total %llu\nmin %llu\nmax %llu\nmean %a\nstddev %a\n",
			(unsigned long long)dd_hdr_total(h), (unsigned long long)dd_hdr_min(h),
			(unsigned long long)dd_hdr_max(h), dd_hdr_mean(h), dd_hdr_stddev(h));
		for (size_t i = 0; i < sizeof(pcts) / sizeof(pcts[0]); i++)
			fprintf(sf, "pct %a %llu\n", pcts[i],
				(unsigned long long)dd_hdr_value_at_percentile(h, pcts[i]));
		fclose(sf);
		dd_hdr_free(h);
	}
	fclose(log);
	return 0;
}

/* Reads Java's log; every interval must equal our own recording of the set it is tagged with. */
static int read_java(const char *dir)
{
	FILE *log = open_in(dir, "java.hlog", "r");
	char *line = NULL;
	size_t cap = 0;
	unsigned intervals = 0, fails = 0;
	while (getline(&line, &cap, log) > 0) {
		struct dd_hdr_log_entry e;
		int rc = dd_hdr_log_read_line(line, &e);
		if (rc != 0) {
			fprintf(stderr, "gen: cannot read Java's line (%s): %s", strerror(-rc), line);
			fails++;
			continue;
		}
		if (e.kind != DD_HDR_LOG_INTERVAL)
			continue;
		intervals++;
		const struct set *s = NULL;
		for (size_t k = 0; k < NSETS; k++)
			if (strcmp(sets[k].name, e.tag) == 0)
				s = &sets[k];
		struct dd_hdr *mine;
		if (s == NULL || dd_hdr_create(&s->p, &mine) != 0) {
			fprintf(stderr, "gen: unknown tag %s\n", e.tag);
			fails++;
			dd_hdr_free(e.h);
			continue;
		}
		fill(s, mine, NULL);
		int same = e.h->counts_len == mine->counts_len && e.h->lowest == mine->lowest &&
			   e.h->highest == mine->highest && e.h->sigfigs == mine->sigfigs &&
			   dd_hdr_total(e.h) == dd_hdr_total(mine) && dd_hdr_max(e.h) == dd_hdr_max(mine);
		for (uint32_t i = 0; same && i < mine->counts_len; i++)
			same = dd_hdr_count_at_index(e.h, i) == dd_hdr_count_at_index(mine, i);
		if (!same) {
			fprintf(stderr, "gen: Java's interval %s differs from ours\n", e.tag);
			fails++;
		}
		dd_hdr_free(mine);
		dd_hdr_free(e.h);
	}
	free(line);
	fclose(log);
	if (intervals != NSETS) {
		fprintf(stderr, "gen: %u intervals in Java's log, expected %zu\n", intervals, NSETS);
		fails++;
	}
	printf("C read Java's log: %u intervals, %u failures\n", intervals, fails);
	return fails ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "write") == 0)
		return write_all(argv[2]);
	if (argc == 3 && strcmp(argv[1], "read") == 0)
		return read_java(argv[2]);
	fprintf(stderr, "usage: gen write|read DIR\n");
	return 2;
}
EOF

cat >"$work/Interop.java" <<'EOF'
import java.io.*;
import java.nio.ByteBuffer;
import java.nio.file.*;
import java.util.*;
import org.HdrHistogram.*;

public class Interop {
    static int fails = 0, checks = 0;

    static void check(boolean ok, String what) {
        checks++;
        if (!ok) {
            fails++;
            System.err.println("MISMATCH: " + what);
        }
    }

    static Histogram record(Path dir, String name) throws IOException {
        List<String> lines = Files.readAllLines(dir.resolve("values_" + name + ".txt"));
        String[] p = lines.get(0).split(" ");
        Histogram h = new Histogram(Long.parseLong(p[0]), Long.parseLong(p[1]), Integer.parseInt(p[2]));
        for (String l : lines.subList(1, lines.size())) {
            String[] vc = l.split(" ");
            h.recordValueWithCount(Long.parseLong(vc[0]), Long.parseLong(vc[1]));
        }
        return h;
    }

    public static void main(String[] args) throws Exception {
        Path dir = Paths.get(args[0]);
        double[] ratios = { 1.0, 1000.0, 1e6 };
        String[] ratioNames = { "1", "1000", "1e+06" };
        List<String> order = new ArrayList<>();
        Map<String, Histogram> javas = new HashMap<>();

        HistogramLogReader reader = new HistogramLogReader(dir.resolve("ours.hlog").toString());
        EncodableHistogram eh;
        while ((eh = reader.nextIntervalHistogram()) != null) {
            Histogram ours = (Histogram) eh;
            String name = ours.getTag();
            order.add(name);
            Histogram java = record(dir, name);
            javas.put(name, java);
            check(ours.equals(java), name + ": decoded histogram equals Java's recording");
            check(ours.getTotalCount() == java.getTotalCount(), name + ": total");

            ByteBuffer buf = ByteBuffer.allocate(java.getNeededByteBufferCapacity());
            int n = java.encodeIntoByteBuffer(buf);
            byte[] javaPlain = Arrays.copyOf(buf.array(), n);
            byte[] ourPlain = Files.readAllBytes(dir.resolve("plain_" + name + ".bin"));
            check(Arrays.equals(javaPlain, ourPlain), name + ": uncompressed V2 bytes identical");

            for (int r = 0; r < 3; r++) {
                ByteArrayOutputStream bo = new ByteArrayOutputStream();
                PrintStream ps = new PrintStream(bo, true, "US-ASCII");
                java.outputPercentileDistribution(ps, r == 2 ? 1 : 5, ratios[r]);
                String javaText = bo.toString("US-ASCII");
                String ourText = new String(Files.readAllBytes(dir.resolve("pct_" + name + "_" + ratioNames[r] + ".txt")), "US-ASCII");
                check(javaText.equals(ourText), name + ": percentile text at ratio " + ratios[r]);
                if (!javaText.equals(ourText)) {
                    Files.write(dir.resolve("java_pct_" + name + "_" + ratioNames[r] + ".txt"), javaText.getBytes("US-ASCII"));
                }
            }

            for (String l : Files.readAllLines(dir.resolve("summary_" + name + ".txt"))) {
                String[] f = l.split(" ");
                switch (f[0]) {
                case "total": check(java.getTotalCount() == Long.parseLong(f[1]), name + ": total"); break;
                case "min": check(java.getMinValue() == Long.parseLong(f[1]), name + ": min " + java.getMinValue() + " vs " + f[1]); break;
                case "max": check(java.getMaxValue() == Long.parseLong(f[1]), name + ": max " + java.getMaxValue() + " vs " + f[1]); break;
                case "mean": check(java.getMean() == Double.parseDouble(f[1]), name + ": mean " + java.getMean() + " vs " + Double.parseDouble(f[1])); break;
                case "stddev": check(java.getStdDeviation() == Double.parseDouble(f[1]), name + ": stddev " + java.getStdDeviation() + " vs " + Double.parseDouble(f[1])); break;
                case "pct": {
                    double p = Double.parseDouble(f[1]);
                    long v = java.getValueAtPercentile(p);
                    check(v == Long.parseLong(f[2]), name + ": p" + p + " " + v + " vs " + f[2]);
                    break;
                }
                }
            }
        }
        check(order.size() == 11, "intervals read: " + order.size());
        check(reader.getStartTimeSec() == 1700000000.25, "StartTime read back: " + reader.getStartTimeSec());

        // Java writes the same intervals, with the same times, for the C side to read.
        PrintStream out = new PrintStream(new FileOutputStream(dir.resolve("java.hlog").toString()), true, "US-ASCII");
        HistogramLogWriter w = new HistogramLogWriter(out);
        w.outputLogFormatVersion();
        w.outputStartTime(1700000000250L);
        w.outputBaseTime(1700000000250L);
        w.outputLegend();
        for (int k = 0; k < order.size(); k++) {
            Histogram h = javas.get(order.get(k));
            h.setTag(order.get(k));
            w.outputIntervalHistogram(10.0 * k, 10.0 * k + 10.0, h, 1e6);
        }
        w.close();
        System.out.println("Java checked our log: " + checks + " checks, " + fails + " mismatches");
        System.exit(fails == 0 ? 0 : 1);
    }
}
EOF

cd "$root"
${CC:-cc} -std=c11 -D_GNU_SOURCE -O1 -g -I. "$work/gen.c" shm/hdr.c -lz -lm -o "$work/gen"
javac -nowarn -cp "$jar" -d "$work" "$work/Interop.java"
"$work/gen" write "$work"

pass=0 fail=0
step() {
	if "$@"; then pass=$((pass + 1)); else fail=$((fail + 1)); fi
}
step java -cp "$jar:$work" Interop "$work"
step "$work/gen" read "$work"

# Java's interval lines against ours: same fields; the base64 is identical too when both sides'
# deflate (level 9) produce the same stream, which depends on the zlib each links.
ours_lines=$(grep -v '^#' "$work/ours.hlog" | grep -v '^"')
java_lines=$(grep -v '^#' "$work/java.hlog" | grep -v '^"')
if [ "$(cut -d, -f1-4 <<<"$ours_lines")" = "$(cut -d, -f1-4 <<<"$java_lines")" ]; then
	pass=$((pass + 1))
	echo "interval lines: tag, start, length and max fields identical"
else
	fail=$((fail + 1))
	echo "MISMATCH: interval line fields differ:"
	diff <(cut -d, -f1-4 <<<"$ours_lines") <(cut -d, -f1-4 <<<"$java_lines") || true
fi
if [ "$ours_lines" = "$java_lines" ]; then
	echo "interval lines: byte-identical, base64 payloads included"
else
	echo "note: base64 payloads differ (different deflate streams); both decode to equal histograms"
fi
if [ "$(sed -n 1p "$work/ours.hlog")" = "$(sed -n 1p "$work/java.hlog")" ] &&
	[ "$(sed -n '3,4p' "$work/ours.hlog")" = "$(sed -n '3,4p' "$work/java.hlog")" ] &&
	[ "$(sed -n 2p "$work/ours.hlog" | cut -d, -f1)" = "$(sed -n 2p "$work/java.hlog" | cut -d, -f1)" ]; then
	pass=$((pass + 1))
	echo "log header: version, StartTime seconds, BaseTime and legend identical"
else
	fail=$((fail + 1))
	echo "MISMATCH: log headers differ:"
	diff <(head -4 "$work/ours.hlog") <(head -4 "$work/java.hlog") || true
fi

# HdrHistogram's own log processor over our log, one tag at a time: its overall distribution (in
# ms, 5 ticks) must be what we print for the same histogram.
proc_ok=0 proc_bad=0
for tag in $(grep -o '^Tag=[^,]*' "$work/ours.hlog" | cut -d= -f2); do
	if java -cp "$jar" org.HdrHistogram.HistogramLogProcessor -i "$work/ours.hlog" -tag "$tag" \
		-o "$work/proc_$tag" >/dev/null 2>"$work/proc.err" && [ ! -s "$work/proc.err" ] &&
		[ -n "$(tail -n +3 "$work/proc_$tag.hgrm")" ] &&
		[ "$(tail -n +3 "$work/proc_$tag.hgrm")" = "$(cat "$work/pct_${tag}_proc.txt")" ]; then
		proc_ok=$((proc_ok + 1))
	else
		proc_bad=$((proc_bad + 1))
		echo "MISMATCH: HistogramLogProcessor -tag $tag on our log:"
		cat "$work/proc.err"
		diff <(tail -n +3 "$work/proc_$tag.hgrm") "$work/pct_${tag}_proc.txt" | head -20 || true
	fi
done
if [ "$proc_bad" -eq 0 ] && [ "$proc_ok" -gt 0 ]; then
	pass=$((pass + 1))
	echo "HistogramLogProcessor read our log: $proc_ok tags, each distribution identical to ours"
else
	fail=$((fail + 1))
fi

echo "hdr_interop: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
