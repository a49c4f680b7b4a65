// Real data: three releases of MDN's browser compatibility data (test/real-data/browser-compat-data.ts).
import { browserCompatData } from './browser-compat-data.ts';
import { describeRealData } from './real-data-suite.ts';

describeRealData(browserCompatData);
