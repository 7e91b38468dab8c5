#!/usr/bin/env bash
# System packages ivrflow uses: ffmpeg (prompt conversion) and espeak-ng (offline TTS); with
# --browser also Chromium with a Chinese font, for the browser tests (./test asks for them;
# Playwright drives /usr/bin/chromium).
# Installed with apt-get when missing and run as root; otherwise say what is missing (the
# features that need them report a clear error, and their tests say why they are skipped).
set -euo pipefail
missing=()
command -v ffmpeg >/dev/null 2>&1 && command -v ffprobe >/dev/null 2>&1 || missing+=(ffmpeg)
command -v espeak-ng >/dev/null 2>&1 || missing+=(espeak-ng)
if [ "${1:-}" = "--browser" ]; then
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  [ -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || missing+=(fonts-wqy-microhei)
fi
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing ${missing[*]} (apt-get)…" >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}") >&2
else
  echo "not installed: ${missing[*]} — install them (apt-get install ${missing[*]})" >&2
fi
