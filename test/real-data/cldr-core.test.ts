// Real data: four CLDR releases of supplemental data (test/real-data/cldr-core.ts).
import { cldrCore } from './cldr-core.ts';
import { describeRealData } from './real-data-suite.ts';

describeRealData(cldrCore);
