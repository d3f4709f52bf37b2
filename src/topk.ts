/** One class of a classification result. */
export interface Prediction {
  label: string;
  index: number;
  score: number;
}

/** Softmax of a row of logits, computed stably in float64. */
export function softmax(logits: ArrayLike<number>): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i]);
  const out = new Float64Array(logits.length);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) {
    out[i] = Math.exp(logits[i] - max);
    sum += out[i];
  }
  for (let i = 0; i < out.length; i++) out[i] /= sum;
  return out;
}

/** The k highest scores, best first, with their labels. Ties keep the lower index first. */
export function topK(scores: ArrayLike<number>, labels: readonly string[], k: number): Prediction[] {
  const order = Array.from({ length: scores.length }, (_, i) => i);
  order.sort((a, b) => scores[b] - scores[a] || a - b);
  return order.slice(0, Math.min(k, scores.length)).map((index) => ({
    label: labels[index] ?? `class_${index}`,
    index,
    score: scores[index],
  }));
}
