#!/usr/bin/env bash
# Regenerates richmenu.png (2500x1686, LINE's large rich-menu size): one tile per entry of TILES in
# bot/line/richmenu.py, in the same order (three to a row, left to right, top to bottom), with the same
# labels and captions (tests/line/test_richmenu.py checks that they agree). Needs imagemagick and
# fonts-ipafont-gothic.
set -euo pipefail
cd "$(dirname "$0")"
convert=$(command -v convert)
font=/usr/share/fonts/opentype/ipafont-gothic/ipagp.ttf
tile() {  # colour, label, caption, label size (points; smaller for a long label), output
  "$convert" -size 833x843 "xc:$1" -fill white -font "$font" -gravity center \
    -pointsize "$4" -annotate +0-60 "$2" -pointsize 56 -annotate +0+90 "$3" \
    -stroke '#ffffff66' -strokewidth 6 -fill none -draw "rectangle 3,3 829,839" "$5"
}
tmp=$(mktemp -d)
tile '#1f6f8b' '相談する' 'ご相談の受付' 120 "$tmp/1.png"
tile '#3a7d44' 'イベント' 'セミナー・サロン' 120 "$tmp/2.png"
tile '#7b5ea7' '申込状況' 'お申込みの確認' 120 "$tmp/3.png"
tile '#2a9d8f' '相談状況' 'ご相談の確認' 120 "$tmp/4.png"
tile '#e9a23b' 'お問い合わせ' 'お電話はこちら' 100 "$tmp/5.png"
tile '#6c757d' 'ヘルプ' '使い方' 120 "$tmp/6.png"
"$convert" "$tmp/1.png" "$tmp/2.png" "$tmp/3.png" +append "$tmp/top.png"
"$convert" "$tmp/4.png" "$tmp/5.png" "$tmp/6.png" +append "$tmp/bottom.png"
"$convert" "$tmp/top.png" "$tmp/bottom.png" -append -gravity west -background '#6c757d' -extent 2500x1686 \
  -strip -depth 8 -define png:compression-level=9 richmenu.png
rm -r "$tmp"
