// Shared by the tests that check one evaluation report against another (shards merged, ranks gathered,
// the CLI beside the API): the fields every report carries, compared one by one so a failure names it.
'use strict';

const REPORT_KEYS = ['clipAcc1', 'clipAcc5', 'videoAcc1', 'videoAcc5', 'meanClassAcc1', 'clips', 'videos', 'confusion', 'failed'];

/** t.same on each of REPORT_KEYS and `extra` keys of `actual` against `expected`. */
function sameReportFields(t, actual, expected, extra = []) {
  for (const key of [...REPORT_KEYS, ...extra]) t.same(actual[key], expected[key], `${key} identical`);
}

module.exports = { REPORT_KEYS, sameReportFields };
