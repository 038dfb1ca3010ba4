#include "OverCapacityDialog.h"

#include "BackgroundTask.h"

#include <QDialogButtonBox>
#include <QLabel>
#include <QPushButton>
#include <QVBoxLayout>

namespace lorafa::ui {

OverCapacityDialog::OverCapacityDialog(const RunConfig& config, const std::string& device,
                                       const MemoryEstimate& estimate, const MemoryCapacity& capacity,
                                       QWidget* parent)
    : QDialog(parent) {
  setObjectName("overCapacityDialog");
  setWindowTitle(tr("The run does not fit in memory"));
  setWindowModality(Qt::WindowModal);
  setAttribute(Qt::WA_DeleteOnClose);
  auto* layout = new QVBoxLayout(this);

  const std::int64_t over = estimate.peak - capacity.bytes;
  const double percent = capacity.bytes > 0 ? 100.0 * static_cast<double>(over) / static_cast<double>(capacity.bytes) : 0.0;
  auto* message = new QLabel(
      tr("<p>The predicted peak of %1 is <b>%2</b>, but %3 has <b>%4</b>: it is <b>%5 (%6%) over</b>. The run "
         "would likely fail with out of memory, or swap.</p>")
          .arg(QString::fromLatin1(toString(estimate.method)), formatMiB(estimate.peak), capacity.what.toHtmlEscaped(),
               formatMiB(capacity.bytes), formatMiB(over))
          .arg(percent, 0, 'f', 1),
      this);
  message->setObjectName("overCapacityMessage");
  message->setWordWrap(true);
  message->setToolTip(tr("The memory planner's prediction for the configuration as it is, and the device's capacity"));
  layout->addWidget(message);

  auto* choicesTitle = new QLabel(tr("Settings that fit (each applies the change and starts):"), this);
  choicesTitle->setToolTip(tr("Each change on its own; the others stay as configured"));
  layout->addWidget(choicesTitle);
  m_choices = new QVBoxLayout;
  layout->addLayout(m_choices);
  m_searchLabel = new QLabel(tr("Searching for settings that fit…"), this);
  m_searchLabel->setObjectName("overCapacitySearchLabel");
  m_searchLabel->setToolTip(tr("The planner is searching for the largest batch, sequence length and rank that fit"));
  m_choices->addWidget(m_searchLabel);

  auto* buttons = new QDialogButtonBox(this);
  auto* anyway = buttons->addButton(tr("Start anyway"), QDialogButtonBox::AcceptRole);
  anyway->setObjectName("startAnywayButton");
  anyway->setToolTip(tr("Start the configuration unchanged, over the predicted capacity"));
  auto* cancel = buttons->addButton(QDialogButtonBox::Cancel);
  cancel->setObjectName("cancelButton");
  cancel->setToolTip(tr("Start nothing and go back to the settings"));
  connect(anyway, &QPushButton::clicked, this, [this] {
    accept();
    Q_EMIT startAnyway(); // accept() only hides: the dialog is deleted later
  });
  connect(cancel, &QPushButton::clicked, this, &QDialog::reject);
  layout->addWidget(buttons);

  BackgroundTask::run(
      nullptr, this,
      [config, device, bytes = capacity.bytes] { return suggestionsThatFit(config, device, bytes); },
      [this](const QVector<FitSuggestion>& suggestions) { showSuggestions(suggestions); });
}

void OverCapacityDialog::showSuggestions(const QVector<FitSuggestion>& suggestions) {
  m_suggestions = suggestions;
  m_searching = false;
  if (suggestions.isEmpty()) {
    m_searchLabel->setText(tr("No single change fits: even a batch of 1 at the shortest length is over. Choose a "
                              "smaller model, another device, or start anyway."));
  } else {
    m_searchLabel->hide();
  }
  for (const FitSuggestion& s : suggestions) {
    auto* button = new QPushButton(s.text, this);
    QString name = s.id;
    name[0] = name[0].toUpper();
    button->setObjectName(QStringLiteral("fit%1Button").arg(name));
    button->setToolTip(tr("Apply this change to the configuration and start; predicted peak %1").arg(formatMiB(s.peakBytes)));
    connect(button, &QPushButton::clicked, this, [this, s] {
      Q_EMIT applyAndStart(s);
      accept();
    });
    m_choices->addWidget(button);
  }
  Q_EMIT suggestionsReady();
}

} // namespace lorafa::ui
