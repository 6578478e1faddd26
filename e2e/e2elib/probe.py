"""Shell snippets run inside containers (the edge, throwaway clients) to send
HTTP requests from there. They work with curl, GNU wget or busybox wget, so
both the official nginx:alpine image and the offline stand-in can run them.

``code URL`` prints the HTTP status, or 000 when nothing answered."""

CODE_FN = r"""
code() {
  if command -v curl >/dev/null 2>&1; then
    curl -s -m "$T" -o /dev/null -w '%{http_code}' "$1" 2>/dev/null || true
  else
    tries=""
    wget --help 2>&1 | grep -q -- '--tries' && tries="-t 1"
    c=$(wget -S $tries -T "$T" -O /dev/null "$1" 2>&1 | awk '/HTTP\//{c=$2} END{print c}')
    printf '%s' "${c:-000}"
  fi
}
"""

# argv: SIGNATURE URL... ; prints "<code> <1 if the body holds SIGNATURE else 0> <url>"
# per URL, probing them in parallel. The signature tells the service apart from
# anything else that might answer on the way (a proxy, another container).
REACH_SH = (
    "T=3\n"
    + r"""
fetch() {
  f=$(mktemp)
  if command -v curl >/dev/null 2>&1; then
    c=$(curl -s -m "$T" -o "$f" -w '%{http_code}' "$1" 2>/dev/null || true)
  else
    tries=""
    wget --help 2>&1 | grep -q -- '--tries' && tries="-t 1"
    c=$(wget -S $tries -T "$T" -O "$f" "$1" 2>&1 | awk '/HTTP\//{c=$2} END{print c}')
  fi
  if grep -q -- "$sig" "$f" 2>/dev/null; then s=1; else s=0; fi
  rm -f "$f"
  echo "${c:-000} $s $1"
}
sig="$1"; shift
for u in "$@"; do fetch "$u" & done
wait
"""
)

# argv: URL COUNT ; prints one status code a line, then "elapsed <seconds>".
BURST_SH = (
    "T=5\n"
    + CODE_FN
    + r"""
url="$1"; n="$2"; start=$(date +%s); i=0
while [ "$i" -lt "$n" ]; do i=$((i + 1)); echo "$(code "$url")"; done
echo "elapsed $(( $(date +%s) - start ))"
"""
)


def parse_reach(output: str) -> dict[str, tuple[str, bool]]:
    """{url: (status code, body holds the signature)} from REACH_SH's output."""
    out = {}
    for line in output.splitlines():
        parts = line.split(" ", 2)
        if len(parts) == 3 and parts[0].isdigit() and parts[1] in ("0", "1"):
            out[parts[2]] = (parts[0], parts[1] == "1")
    return out


def parse_burst(output: str) -> tuple[list[str], float]:
    """(status codes in order, elapsed seconds) from BURST_SH's output."""
    codes, elapsed = [], 0.0
    for line in output.splitlines():
        line = line.strip()
        if line.startswith("elapsed "):
            elapsed = float(line.split()[1])
        elif line.isdigit() and len(line) == 3:
            codes.append(line)
    return codes, elapsed
