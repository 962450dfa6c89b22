// A new offer: a short tone (Web Audio, no asset) and, with permission, a browser notification.

import type { Ticket } from './api';
import { t } from './i18n';

let audio: AudioContext | null = null;

export function alertOffer(ticket: Ticket): void {
  try {
    audio ??= new AudioContext();
    const osc = audio.createOscillator();
    const gain = audio.createGain();
    osc.frequency.value = 880;
    gain.gain.setValueAtTime(0.15, audio.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + 0.4);
    osc.connect(gain).connect(audio.destination);
    osc.start();
    osc.stop(audio.currentTime + 0.4);
  } catch {
    // No audio output: the offer is still on screen.
  }
  if ('Notification' in window && Notification.permission === 'granted' && document.visibilityState !== 'visible') {
    new Notification(t('offer.notification'), { body: t('offer.detail', { queue: ticket.queue, language: '' }), tag: ticket.id });
  }
}
