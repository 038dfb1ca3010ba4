#pragma once
// The one place the UI includes qcustomplot.h. The header is written with Qt's keyword macros
// (signals, slots, emit, foreach), which lorafa_ui turns off (QT_NO_KEYWORDS, CONVENTIONS 4);
// they are defined around it, and only there.
#if defined(QT_NO_KEYWORDS) && !defined(signals)
#define LORAFA_QCUSTOMPLOT_KEYWORDS
#define signals Q_SIGNALS
#define slots Q_SLOTS
#define emit Q_EMIT
#define foreach Q_FOREACH
#endif

#include <qcustomplot.h>

#ifdef LORAFA_QCUSTOMPLOT_KEYWORDS
#undef signals
#undef slots
#undef emit
#undef foreach
#undef LORAFA_QCUSTOMPLOT_KEYWORDS
#endif
