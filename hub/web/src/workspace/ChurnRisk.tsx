// The customer's churn risk in the side panel: the score out of 100 and its band in words (the
// colour only repeats them), the factors that add the most points, and when it was computed.
// The model is documented in docs/churn.md; the hub recomputes the score as the customer's
// tickets change, and this section reads it again when the ticket shown changes.

import { useEffect, useState } from 'preact/hooks';
import type { JSX } from 'preact';
import type { Store } from './store';
import { ago, t } from './i18n';

interface ChurnFactor {
  factor: string;
  units: number;
  points: number;
}

interface ChurnRiskView {
  score: number;
  band: 'low' | 'medium' | 'high';
  factors: ChurnFactor[];
  computed_at: string;
}

/** How many factors the panel names (the largest first). */
const TOP = 3;

export function ChurnRisk(props: { store: Store; customerId: string; refresh: string }): JSX.Element {
  const { store, customerId, refresh } = props;
  const [risk, setRisk] = useState<ChurnRiskView | null>(null);
  const [failed, setFailed] = useState(false);
  useEffect(() => {
    let live = true;
    setFailed(false);
    store.api.request<ChurnRiskView>('GET', `/api/v1/customers/${customerId}/churn-risk`).then(
      (r) => { if (live) setRisk(r); },
      () => { if (live) { setRisk(null); setFailed(true); } },
    );
    return () => { live = false; };
  }, [customerId, refresh]);
  return (
    <div class="churn" data-testid="churn-risk">
      <h3 id="side-churn">{t('churn.title')}</h3>
      {!risk ? (
        <p class="muted" role="status">{failed ? t('churn.unavailable') : t('churn.loading')}</p>
      ) : (
        <>
          <p class={`churn-score churn-${risk.band}`} data-band={risk.band}>
            <strong>{t('churn.score', { score: risk.score })}</strong>{' '}
            <span class={`chip churn-band-${risk.band}`}>{t(`churn.band_${risk.band}`)}</span>
          </p>
          {risk.factors.length === 0 ? (
            <p class="muted">{t('churn.no_factors')}</p>
          ) : (
            <ul class="churn-factors" aria-labelledby="side-churn">
              {risk.factors.slice(0, TOP).map((f) => (
                <li key={f.factor} data-factor={f.factor}>
                  {t(`churn.factor_${f.factor}`, { units: f.units })}{' '}
                  <span class="churn-points">{t('churn.points', { points: f.points })}</span>
                </li>
              ))}
            </ul>
          )}
          <p class="muted">{t('churn.computed', { when: ago(risk.computed_at) })}</p>
        </>
      )}
    </div>
  );
}
