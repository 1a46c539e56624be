#!/usr/bin/env bash
# The browser the receipt specs render pages with: Debian's chromium (headless) and poppler-utils (pdftotext,
# pdfinfo) to read back what it printed. Installed with apt-get if missing; safe to run twice.
#   scripts/browser.sh ensure
set -euo pipefail
if command -v chromium >/dev/null && command -v pdftotext >/dev/null && command -v pdfinfo >/dev/null; then exit 0; fi
echo "chromium or poppler-utils not found: installing them with apt-get" >&2
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium poppler-utils >/dev/null
