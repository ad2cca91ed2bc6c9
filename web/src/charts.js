// SPDX-License-Identifier: Apache-2.0
// Chart.js, loaded only by the dashboard (a separate chunk, fetched on demand).
// Only the parts the dashboard draws are registered, to keep the chunk small.

import {
  Chart, BarController, BarElement, DoughnutController, ArcElement, LineController, LineElement,
  PointElement, CategoryScale, LinearScale, Legend, Tooltip, Filler,
} from 'chart.js';

Chart.register(BarController, BarElement, DoughnutController, ArcElement, LineController, LineElement,
  PointElement, CategoryScale, LinearScale, Legend, Tooltip, Filler);
Chart.defaults.font.family = '"Hiragino Sans", "Hiragino Kaku Gothic ProN", "Noto Sans JP", "Yu Gothic", "YuGothic", Meiryo, system-ui, sans-serif';
Chart.defaults.color = '#3d4451';
Chart.defaults.animation = false;

export function chart(canvas, config) { return new Chart(canvas, config); }
