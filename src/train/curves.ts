// curves.svg: the training curves per epoch (loss; train, validation clip and video acc@1; learning
// rate), a Vega-Lite spec rendered to SVG in Node, written atomically.
import { vegaLiteToSvg } from '../charts/vega-svg';
import { writeFileAtomic } from '../common/atomic-file';
import type { FineTuneEpoch } from './fine-tune/types';

function lineChart(
  title: string,
  values: { epoch: number; value: number; series: string }[],
  yTitle: string,
  scaleType = 'linear',
): object {
  return {
    title,
    width: 420,
    height: 160,
    data: { values },
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'epoch', type: 'quantitative', title: 'epoch', axis: { tickMinStep: 1 } },
      y: { field: 'value', type: 'quantitative', title: yTitle, scale: { type: scaleType } },
      color: { field: 'series', type: 'nominal', title: null },
    },
  };
}

export function curvesSpec(history: FineTuneEpoch[]): object {
  const series = (name: string, pick: (h: FineTuneEpoch) => number) =>
    history.map((h) => ({ epoch: h.epoch, value: pick(h), series: name }));
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    config: { font: 'sans-serif' },
    vconcat: [
      lineChart(
        'Training loss',
        series('train loss', (h) => h.trainLoss),
        'cross-entropy',
      ),
      lineChart(
        'Accuracy',
        [
          ...series('train clip acc@1', (h) => h.trainAcc1),
          ...series('val clip acc@1', (h) => h.valClipAcc1),
          ...series('val video acc@1', (h) => h.valVideoAcc1),
        ],
        'accuracy',
      ),
      lineChart(
        'Learning rate',
        series('lr', (h) => h.lr),
        'learning rate',
        'log',
      ),
    ],
  };
}

export async function writeCurves(file: string, history: FineTuneEpoch[]): Promise<void> {
  writeFileAtomic(file, await vegaLiteToSvg(curvesSpec(history)));
}
