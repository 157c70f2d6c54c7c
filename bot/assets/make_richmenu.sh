#!/usr/bin/env bash
# Regenerates richmenu.png (2500x843, LINE's compact rich-menu size): one tile per entry of TILES in
# bot/line/richmenu.py, in the same order, with the same labels and captions (tests/line/test_richmenu.py
# checks that they agree). Needs Debian's imagemagick and fonts-ipafont-gothic.
set -euo pipefail
cd "$(dirname "$0")"
font=/usr/share/fonts/opentype/ipafont-gothic/ipagp.ttf
tile() {  # colour, label, caption, label size (points; smaller for a long label), output
  /usr/bin/convert -size 625x843 "xc:$1" -fill white -font "$font" -gravity center \
    -pointsize "$4" -annotate +0-60 "$2" -pointsize 52 -annotate +0+90 "$3" \
    -stroke '#ffffff66' -strokewidth 6 -fill none -draw "rectangle 3,3 621,839" "$5"
}
tmp=$(mktemp -d)
tile '#1f6f8b' '相談する' 'ご相談の受付' 110 "$tmp/1.png"
tile '#2a9d8f' '相談状況' 'ご相談の確認' 110 "$tmp/2.png"
tile '#e9a23b' 'お問い合わせ' 'お電話はこちら' 88 "$tmp/3.png"
tile '#6c757d' 'ヘルプ' '使い方' 110 "$tmp/4.png"
/usr/bin/convert "$tmp/1.png" "$tmp/2.png" "$tmp/3.png" "$tmp/4.png" +append -strip -depth 8 \
  -define png:compression-level=9 richmenu.png
rm -r "$tmp"
