'use strict';
// RSS bounds for leak tests. Under AddressSanitizer (scripts/asan.sh sets TORCHVIDEO_SANITIZED=1)
// freed memory sits in ASan's quarantine and every block carries redzones, so RSS says nothing about
// leaks there; LeakSanitizer's own report covers them instead.
const sanitized = process.env.TORCHVIDEO_SANITIZED === '1';

function checkRssGrowth(t, growthMb, limitMb, what) {
  const message = `RSS grew ${growthMb.toFixed(1)} MB ${what} (limit ${limitMb} MB)`;
  if (sanitized) t.comment(`${message}: not checked under AddressSanitizer`);
  else t.ok(growthMb < limitMb, message);
}

module.exports = { checkRssGrowth };
