import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { LanguageProvider } from './i18n.tsx';
import { RecipientApp } from './recipient.tsx';
import './styles.css';

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <LanguageProvider>
      <RecipientApp />
    </LanguageProvider>
  </StrictMode>,
);
