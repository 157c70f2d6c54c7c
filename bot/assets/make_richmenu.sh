#!/usr/bin/env bash
# Regenerates richmenu.png (2500x843, LINE's compact rich-menu size): four tiles matching the areas
# in bot/line/richmenu.py. Needs Debian's imagemagick and fonts-ipafont-gothic.
set -euo pipefail
cd "$(dirname "$0")"
font=/usr/share/fonts/opentype/ipafont-gothic/ipagp.ttf
tile() {  # colour, label, sublabel, output
  /usr/bin/convert -size 625x843 "xc:$1" -fill white -font "$font" -gravity center \
    -pointsize 110 -annotate +0-60 "$2" -pointsize 52 -annotate +0+90 "$3" \
    -stroke '#ffffff66' -strokewidth 6 -fill none -draw "rectangle 3,3 621,839" "$4"
}
tmp=$(mktemp -d)
tile '#1f6f8b' '相談する' 'ご相談の受付' "$tmp/1.png"
tile '#2a9d8f' 'イベント' 'セミナー・サロン' "$tmp/2.png"
tile '#e9a23b' '申込状況' 'お申込みの確認' "$tmp/3.png"
tile '#6c757d' 'ヘルプ' '使い方' "$tmp/4.png"
/usr/bin/convert "$tmp/1.png" "$tmp/2.png" "$tmp/3.png" "$tmp/4.png" +append -strip -depth 8 \
  -define png:compression-level=9 richmenu.png
rm -r "$tmp"
